//! Weight files: safetensors in the reference implementations' key layouts (SPEC §6).
//!
//! A teacher builder takes every tensor it needs from a [`WeightStore`] by key and
//! expected shape, each layer through the [`Scope`] of its module path;
//! [`WeightStore::finish`] then fails on any key nobody took. There is no partial load.

mod header;
mod scope;
mod store;

pub(crate) use scope::Scope;
pub use store::WeightStore;
