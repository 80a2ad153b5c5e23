//! A module path into a [`WeightStore`]: layers load from the scope of their module
//! (`w.at("features").at(3)`) and ask for their tensors by their own names
//! (`weight`, `bias`), instead of each builder formatting full keys.

use std::fmt;

use burn::tensor::{Device, Tensor};

use super::WeightStore;
use crate::error::Result;

/// The weights under one module path (`layer1.0.conv1`), on the device the teacher
/// is built on. Keys are `{path}.{name}`; the root scope (path `""`) asks for `name`
/// as it is. Errors name the full key, as [`WeightStore`]'s do.
pub(crate) struct Scope<'a> {
    store: &'a mut WeightStore,
    device: &'a Device,
    path: String,
}

impl WeightStore {
    /// The root scope: every key as it stands in the file, loaded onto `device`.
    pub(crate) fn scope<'a>(&'a mut self, device: &'a Device) -> Scope<'a> {
        Scope {
            store: self,
            device,
            path: String::new(),
        }
    }
}

impl Scope<'_> {
    /// The scope of the child module `name` (`path.name`); `name` may itself be a
    /// dotted path or a `Sequential` index.
    pub fn at(&mut self, name: impl fmt::Display) -> Scope<'_> {
        Scope {
            path: self.path_of(name),
            store: self.store,
            device: self.device,
        }
    }

    /// This module's path, as its tap is named.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path of the child `name`, for modules without weights (an activation's tap).
    pub fn path_of(&self, name: impl fmt::Display) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// Takes the tensor `name` of this module, which must have shape `expected`
    /// ([`WeightStore::take`] of the full key).
    ///
    /// # Errors
    /// Missing key, wrong shape, integer dtype, or NaN/Inf values, each naming the key.
    pub fn take<const D: usize>(&mut self, name: &str, expected: [usize; D]) -> Result<Tensor<D>> {
        self.store.take(&self.path_of(name), expected, self.device)
    }

    /// Marks the tensor `name` of this module as used without reading it, if present.
    pub fn skip(&mut self, name: &str) {
        self.store.skip(&self.path_of(name));
    }

    /// Whether the file holds the tensor `name` of this module.
    pub fn contains(&self, name: &str) -> bool {
        self.store.contains(&self.path_of(name))
    }

    /// The shape stored for the tensor `name` of this module.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.store.shape(&self.path_of(name))
    }

    /// Whether the file holds any key under this module (an optional head).
    pub fn has_keys(&self) -> bool {
        let prefix = self.path_of("");
        self.store.keys().any(|key| key.starts_with(&prefix))
    }
}
