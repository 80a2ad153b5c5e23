//! Weight files: safetensors in the reference implementations' key layouts (SPEC §6).
//!
//! A teacher builder takes every tensor it needs from a [`WeightStore`] by key and
//! expected shape; [`WeightStore::finish`] then fails on any key nobody took. There is
//! no partial load.

mod header;
mod store;

pub use store::WeightStore;
