//! The CLI's integration tests, one binary (each test binary links burn): the binary
//! end to end, the image reader, the fuzzers' regressions, and the real weights
//! (`#[ignore]`d: they need `repalign fetch`).

mod cli;
mod fuzz_regressions;
mod images;
mod real_weights;
