//! Deterministic random weights for examples, doctests and tests, so that they run
//! without downloading anything. Not for real use: a random teacher's features mean
//! nothing perceptually.
//!
//! The golden fixtures do not store teacher weights: they store a [`WeightRecipe`]
//! per tensor, and the PyTorch reference script regenerates the same f32 values with
//! the same generator (bit for bit: integer mixing, then exact f32 arithmetic).

use crate::teacher::VggVariant;
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

/// Features-only weights for a torchvision VGG `variant`, with fan-in scaling so that
/// activations neither vanish nor explode through the stack.
pub fn random_vgg(variant: VggVariant, seed: u64) -> WeightStore {
    let mut recipes = Vec::new();
    let mut add = |key: String, shape: Vec<usize>, scale: f32, offset: f32| {
        let seed = seed.wrapping_mul(1_000_003).wrapping_add(recipes.len() as u64);
        recipes.push(WeightRecipe {
            key,
            shape,
            seed,
            scale,
            offset,
        });
    };
    let mut index = 0;
    let mut channels = 3;
    for out in variant.stages() {
        let Some(out) = out else {
            index += 1;
            continue;
        };
        let bound = (6.0 / (channels * 9) as f32).sqrt();
        add(
            format!("features.{index}.weight"),
            vec![out, channels, 3, 3],
            bound,
            0.0,
        );
        add(format!("features.{index}.bias"), vec![out], 0.1, 0.0);
        if variant.batch_norm {
            index += 1;
            add(format!("features.{index}.weight"), vec![out], 0.2, 1.0);
            add(format!("features.{index}.bias"), vec![out], 0.1, 0.0);
            add(format!("features.{index}.running_mean"), vec![out], 0.1, 0.0);
            add(format!("features.{index}.running_var"), vec![out], 0.3, 1.0);
        }
        index += 2;
        channels = out;
    }
    weights_from_recipes("random VGG weights", &recipes)
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
