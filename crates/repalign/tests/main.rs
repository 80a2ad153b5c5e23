//! The library's integration tests, one binary (each test binary links burn): grouped
//! by subject, one module each.

#[macro_use]
mod common;

mod cache;
mod devices;
mod goldens;
mod invariants;
mod judges;
mod masks;
mod precision;
mod properties;
mod teachers;
mod threads;
mod weights;
