//! Target-feature cache: ground truths are fixed across epochs, so their teacher taps
//! are computed once (without an autodiff tape) and reused.
//!
//! Entries are keyed by the caller's sample id. A memory budget bounds what stays
//! resident (least recently used entries go first); an optional on-disk store
//! (one safetensors file per sample) keeps evicted entries, and entries of earlier runs,
//! one read away.

mod disk;

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::{Int, Tensor};

use disk::DiskStore;

use crate::error::{Error, Result};
use crate::features::Features;
use crate::loss::RepAlignLoss;

/// Hit and miss counts and sizes, for logs and tuning the budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Samples served from memory.
    pub hits: u64,
    /// Samples read back from the disk store.
    pub disk_hits: u64,
    /// Samples that needed a teacher pass.
    pub misses: u64,
    /// Entries dropped from memory to stay within the budget.
    pub evictions: u64,
    /// Bytes of features held in memory now.
    pub resident_bytes: u64,
    /// Bytes written to the disk store.
    pub written_bytes: u64,
}

struct Entry {
    features: Features,
    bytes: u64,
    last_used: u64,
    /// The teacher pass this entry's rows came from, and its row there.
    origin: Option<(u64, usize)>,
}

/// Teacher taps of fixed ground truths, keyed by sample id.
///
/// One cache serves one loss configuration (teacher, preprocessing, tap selection):
/// using it with another is refused rather than silently mixing features.
///
/// ```
/// # use burn::tensor::{Device, Distribution, Tensor};
/// # use repalign::{LossConfig, RepAlignLoss, TargetCache, teacher, testing};
/// # fn main() -> repalign::Result<()> {
/// # let device = Device::flex();
/// # let weights = testing::random_weights("vgg11", 0)?;
/// # let loss = RepAlignLoss::new(teacher::load("vgg11", weights, &device)?, LossConfig::default())
/// #     .with_preprocess(repalign::preprocess::Preprocess::identity());
/// let mut cache = TargetCache::new(512 << 20); // 512 MiB of resident features
/// let ground_truth = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &device);
/// let output = ground_truth.clone() * 0.9;
/// for _epoch in 0..2 {
///     let target = cache.target_features(&loss, &["img-0", "img-1"], &ground_truth)?;
///     let report = loss.loss_against(&output, &target)?;
/// }
/// assert_eq!((cache.stats().misses, cache.stats().hits), (2, 2));
/// # Ok(())
/// # }
/// ```
pub struct TargetCache {
    budget_bytes: u64,
    entries: HashMap<String, Entry>,
    /// Whole teacher passes whose rows are all still resident, by pass number: a
    /// request for exactly those rows, in order, gets the pass back without copying.
    /// The entries are views of these tensors, so keeping them costs no memory.
    passes: HashMap<u64, Features>,
    next_pass: u64,
    clock: u64,
    store: Option<DiskStore>,
    fingerprint: Option<String>,
    stats: CacheStats,
}

impl std::fmt::Debug for TargetCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetCache")
            .field("budget_bytes", &self.budget_bytes)
            .field("entries", &self.entries.len())
            .field("store", &self.store)
            .field("stats", &self.stats)
            .finish()
    }
}

impl TargetCache {
    /// A memory-only cache holding at most `budget_bytes` of features.
    pub fn new(budget_bytes: u64) -> Self {
        TargetCache {
            budget_bytes,
            entries: HashMap::new(),
            passes: HashMap::new(),
            next_pass: 0,
            clock: 0,
            store: None,
            fingerprint: None,
            stats: CacheStats::default(),
        }
    }

    /// Adds an on-disk store in `dir` (created if needed): every computed entry is
    /// written there, and memory misses are looked up there before running the teacher.
    /// Files of an earlier run are reused when they were made with the same teacher
    /// name, preprocessing and tap selection. Different weights under the same teacher
    /// name need a different directory.
    ///
    /// # Errors
    /// [`Error::Cache`] when the directory cannot be created.
    pub fn with_disk_store(mut self, dir: impl AsRef<Path>) -> Result<Self> {
        self.store = Some(DiskStore::open(dir.as_ref())?);
        Ok(self)
    }

    /// Counts and sizes so far.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Number of entries resident in memory.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is resident in memory.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Target features of a batch of ground truths `(B, 3, H, W)` whose sample ids are
    /// `ids` (one per batch row). Cached rows are reused; the others go through the
    /// teacher in one pass (no autodiff tape) and are cached. Equal to
    /// [`RepAlignLoss::target_features`] of the whole batch.
    ///
    /// The id is the caller's promise that the image has not changed; a sample whose
    /// image size changed gives features that [`RepAlignLoss::loss`] refuses.
    ///
    /// # Errors
    /// [`Error::Config`] when `ids` does not match the batch size or the cache was
    /// filled by another loss configuration; [`Error::Cache`] when the disk store
    /// fails; otherwise as [`RepAlignLoss::target_features`].
    pub fn target_features<S: AsRef<str>>(
        &mut self,
        loss: &RepAlignLoss,
        ids: &[S],
        targets: &Tensor<4>,
    ) -> Result<Features> {
        let batch = targets.dims()[0];
        if ids.len() != batch {
            return Err(Error::Config(format!(
                "{} sample ids for a batch of {batch} target images",
                ids.len()
            )));
        }
        self.check_fingerprint(loss)?;
        let targets = targets.clone().inner();
        let device = targets.device();

        let mut rows: Vec<Option<Features>> = Vec::with_capacity(batch);
        let mut missing = Vec::new();
        for (row, id) in ids.iter().enumerate() {
            let found = self.lookup(id.as_ref(), &device)?;
            if found.is_none() {
                missing.push(row);
            }
            rows.push(found);
        }
        if missing.is_empty()
            && let Some(pass) = self.same_pass(ids)
        {
            return Ok(pass);
        }
        if !missing.is_empty() {
            let indices: Vec<i64> = missing.iter().map(|&row| row as i64).collect();
            let index = Tensor::<1, Int>::from_ints(indices.as_slice(), &device);
            let computed = loss.target_features(&targets.select(0, index))?;
            let pass = self.next_pass;
            self.next_pass += 1;
            for (position, (&row, features)) in missing.iter().zip(computed.split()).enumerate() {
                self.stats.misses += 1;
                self.insert(ids[row].as_ref(), &features, Some((pass, position)))?;
                rows[row] = Some(features);
            }
            if missing.len() == batch {
                if self.pass_resident(pass, batch) {
                    self.passes.insert(pass, computed.clone());
                }
                return Ok(computed);
            }
        }
        let rows: Vec<Features> = rows.into_iter().flatten().collect();
        Features::concat(&rows)
    }

    /// The whole pass when `ids` are exactly its rows, in order, all resident.
    fn same_pass<S: AsRef<str>>(&self, ids: &[S]) -> Option<Features> {
        let (pass, _) = self.entries.get(ids.first()?.as_ref())?.origin?;
        let features = self.passes.get(&pass)?;
        let in_order = ids.iter().enumerate().all(|(row, id)| {
            self.entries
                .get(id.as_ref())
                .is_some_and(|entry| entry.origin == Some((pass, row)))
        });
        (in_order && features.batch() == ids.len()).then(|| features.clone())
    }

    /// Whether every row of `pass` (of `batch` rows) is resident in memory.
    fn pass_resident(&self, pass: u64, batch: usize) -> bool {
        self.entries
            .values()
            .filter(|entry| entry.origin.is_some_and(|(p, _)| p == pass))
            .count()
            == batch
    }

    fn check_fingerprint(&mut self, loss: &RepAlignLoss) -> Result<()> {
        let fingerprint = loss.fingerprint();
        match &self.fingerprint {
            Some(known) if *known != fingerprint => Err(Error::Config(format!(
                "this target cache holds features of another loss configuration ({known}); use one cache per teacher"
            ))),
            Some(_) => Ok(()),
            None => {
                if let Some(store) = &mut self.store {
                    store.set_fingerprint(&fingerprint);
                }
                self.fingerprint = Some(fingerprint);
                Ok(())
            }
        }
    }

    fn lookup(&mut self, id: &str, device: &burn::tensor::Device) -> Result<Option<Features>> {
        self.clock += 1;
        if let Some(entry) = self.entries.get_mut(id) {
            entry.last_used = self.clock;
            self.stats.hits += 1;
            return Ok(Some(entry.features.clone()));
        }
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let Some(features) = store.read(id, device)? else {
            return Ok(None);
        };
        self.stats.disk_hits += 1;
        self.keep_in_memory(id, &features, None);
        Ok(Some(features))
    }

    fn insert(&mut self, id: &str, features: &Features, origin: Option<(u64, usize)>) -> Result<()> {
        if let Some(store) = &self.store {
            self.stats.written_bytes += store.write(id, features)?;
        }
        self.keep_in_memory(id, features, origin);
        Ok(())
    }

    /// Makes room by evicting least recently used entries; an entry larger than the
    /// whole budget is not kept.
    fn keep_in_memory(&mut self, id: &str, features: &Features, origin: Option<(u64, usize)>) {
        let bytes = features.bytes();
        if bytes > self.budget_bytes {
            return;
        }
        while self.stats.resident_bytes + bytes > self.budget_bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some(entry) = self.entries.remove(&oldest) {
                self.forget_pass(&entry);
                self.stats.resident_bytes -= entry.bytes;
                self.stats.evictions += 1;
            }
        }
        self.clock += 1;
        let entry = Entry {
            features: features.clone(),
            bytes,
            last_used: self.clock,
            origin,
        };
        if let Some(old) = self.entries.insert(id.to_owned(), entry) {
            self.forget_pass(&old);
            self.stats.resident_bytes -= old.bytes;
        }
        self.stats.resident_bytes += bytes;
    }

    /// Drops the whole-pass view of `entry`'s pass: once a row is gone, keeping the
    /// pass would hold memory the budget no longer counts.
    fn forget_pass(&mut self, entry: &Entry) {
        if let Some((pass, _)) = entry.origin {
            self.passes.remove(&pass);
        }
    }
}
