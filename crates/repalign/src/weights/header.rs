//! A look at a safetensors header before the parser sees it: the `safetensors` crate
//! reads the header into a map, so of two entries with the same key the first is
//! silently dropped. We refuse such files and name the key.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

/// The first key that occurs twice in the header's top-level object, if any. Headers
/// that do not parse are left to the safetensors parser to report.
pub(crate) fn duplicate_key(bytes: &[u8]) -> Option<String> {
    let length = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let end = usize::try_from(length).ok()?.checked_add(8)?;
    let header = bytes.get(8..end)?;
    serde_json::from_slice::<FirstDuplicate>(header).ok()?.0
}

struct FirstDuplicate(Option<String>);

impl<'de> Deserialize<'de> for FirstDuplicate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(KeyScan)
    }
}

struct KeyScan;

impl<'de> Visitor<'de> for KeyScan {
    type Value = FirstDuplicate;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a safetensors header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FirstDuplicate, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if !seen.insert(key.clone()) {
                return Ok(FirstDuplicate(Some(key)));
            }
        }
        Ok(FirstDuplicate(None))
    }
}
