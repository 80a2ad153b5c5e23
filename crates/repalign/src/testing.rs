//! Deterministic random weights for examples, doctests and tests, so that they run
//! without downloading anything. Not for real use: a random teacher's features mean
//! nothing perceptually.
//!
//! The golden fixtures do not store teacher weights: they store a [`WeightRecipe`]
//! per tensor, and the PyTorch reference script regenerates the same f32 values with
//! the same generator (bit for bit: integer mixing, then exact f32 arithmetic).

use std::sync::{Arc, Mutex};

use crate::weights::WeightStore;

/// SplitMix64, the generator shared with the reference script.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)` with 24 random bits (exact in f32).
    pub fn next_signed(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// How to regenerate one weight tensor: `offset + scale * U[-1, 1)` from `seed`.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightRecipe {
    /// State-dict key.
    pub key: String,
    /// Tensor shape.
    pub shape: Vec<usize>,
    /// Generator seed.
    pub seed: u64,
    /// Multiplier (an f32 value).
    pub scale: f32,
    /// Offset (an f32 value).
    pub offset: f32,
}

impl WeightRecipe {
    /// The tensor's values, row-major.
    pub fn values(&self) -> Vec<f32> {
        let mut rng = SplitMix64::new(self.seed);
        let n = self.shape.iter().product();
        (0..n)
            .map(|_| self.offset + self.scale * rng.next_signed())
            .collect()
    }
}

/// A store holding every recipe's tensor.
pub fn weights_from_recipes(origin: &str, recipes: &[WeightRecipe]) -> WeightStore {
    WeightStore::from_tensors(
        origin,
        recipes
            .iter()
            .map(|r| (r.key.clone(), r.shape.clone(), r.values())),
    )
}

/// Deterministic random weights for the teacher `name` (a full name, e.g. `vgg11_bn`),
/// in the keys and shapes its loader asks for: every key the network needs and no
/// optional one (VGG, AlexNet and MobileNetV2 without their classifiers). Weights are
/// scaled by fan-in, so that activations neither vanish nor explode through the stack,
/// and norm layers start near identity.
///
/// # Errors
/// [`crate::Error::UnknownTeacher`] for a name that is no full teacher name.
pub fn random_weights(name: &str, seed: u64) -> crate::Result<WeightStore> {
    let inventor = Inventor {
        seed,
        recipes: Arc::new(Mutex::new(Vec::new())),
    };
    // Built once to record what it takes, on the CPU whatever else the build has.
    let device = crate::Backend::Flex
        .device()
        .unwrap_or_else(|_| burn::tensor::Device::default());
    drop(crate::teacher::build_named(
        name,
        WeightStore::inventing(inventor.clone()),
        &device,
    )?);
    let recipes = inventor
        .recipes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(weights_from_recipes(&format!("random {name} weights"), &recipes))
}

/// Writes a recipe for each tensor a loader asks an inventing [`WeightStore`] for, so
/// that [`random_weights`] can make the tensors as a store. The store itself answers
/// with zeros: the network built from them only shows which tensors it needs.
#[derive(Debug, Clone)]
pub(crate) struct Inventor {
    seed: u64,
    recipes: Arc<Mutex<Vec<WeightRecipe>>>,
}

impl Inventor {
    /// Records the recipe of `key`, of `shape`: `offset + scale * U[-1, 1)`, with scale
    /// and offset by the key's role (PyTorch's names), seeded by the order of asking.
    pub(crate) fn record(&self, key: &str, shape: &[usize]) {
        let (scale, offset) = if key.ends_with("running_var") {
            (0.3, 1.0)
        } else if key.ends_with("running_mean") || key.ends_with("bias") {
            (0.1, 0.0)
        } else if key.ends_with("weight") && shape.len() >= 2 {
            let fan_in: usize = shape[1..].iter().product();
            ((6.0 / fan_in.max(1) as f32).sqrt(), 0.0)
        } else if key.ends_with("weight") {
            // A norm layer's scale.
            (0.2, 1.0)
        } else {
            // Tokens, position embeddings, layer scales.
            (0.1, 0.0)
        };
        let mut recipes = self
            .recipes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let recipe = WeightRecipe {
            key: key.to_owned(),
            shape: shape.to_vec(),
            seed: self
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(recipes.len() as u64),
            scale,
            offset,
        };
        recipes.push(recipe);
    }
}

/// A `(B, C, H, W)` image with values `0.5 + 0.5 U[-1, 1)` from `seed`: the reference
/// script's `image(seed, shape)`, value for value.
pub fn image(shape: [usize; 4], seed: u64, device: &burn::tensor::Device) -> burn::tensor::Tensor<4> {
    let mut rng = SplitMix64::new(seed);
    let values: Vec<f32> = (0..shape.iter().product())
        .map(|_| rng.next_signed() * 0.5 + 0.5)
        .collect();
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, shape), device)
}
