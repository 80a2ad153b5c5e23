//! Any bytes through the pickle-based checkpoint readers of `repalign fetch` (torch
//! legacy and zip formats, NumPy pickles): tensors or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| {
    let _ = repalign_fetch::read_torch_checkpoint(data);
    let _ = repalign_fetch::read_numpy_pickle(data);
});
