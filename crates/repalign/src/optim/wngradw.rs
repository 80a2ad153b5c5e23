//! WNGradW, the PyTorch original's optimizer: its configuration (checked once, in
//! `build`), the per-parameter step and the state it records.

use burn::optim::{LearningRate, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};

/// Configuration of [`WnGradW`]; [`new`](Self::new) gives the original's defaults.
///
/// The learning rate is not part of it: burn passes one to every step
/// (`optimizer.step(lr, module, grads)`); the original's default is `1e-3`.
///
/// ```
/// use repalign::optim::WnGradWConfig;
///
/// # fn main() -> Result<(), repalign::Error> {
/// let mut optimizer = WnGradWConfig::new().with_momentum(0.9).init()?;
/// # let _ = &mut optimizer;
/// assert!(WnGradWConfig::new().with_momentum(1.0).init().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WnGradWConfig {
    weight_decay: f64,
    epsilon: f64,
    momentum: f64,
    weight_ema: f64,
    centring: bool,
    normalising: bool,
    inverse_trust: bool,
    bias_correction: bool,
    trust_cap: Option<f64>,
}

impl Default for WnGradWConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl WnGradWConfig {
    /// The original's defaults: weight decay 1e-3, ε 1e-8, no momentum, no weight EMA,
    /// centring and normalising on, trust `s` (not `1/s`), no bias correction, no cap.
    pub fn new() -> Self {
        WnGradWConfig {
            weight_decay: 1e-3,
            epsilon: 1e-8,
            momentum: 0.0,
            weight_ema: 0.0,
            centring: true,
            normalising: true,
            inverse_trust: false,
            bias_correction: false,
            trust_cap: None,
        }
    }

    /// Decoupled weight decay `wd` (≥ 0): `p ← p − lr·wd·p` every step.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// ε (> 0), the floor of every norm the step divides by or scales with.
    pub fn with_epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Momentum β_m in [0, 1); 0 steps along the current gradient alone.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// β_w in [0, 1) of the moving average of `p²` that sets the trust; 0 uses the
    /// current weights.
    pub fn with_weight_ema(mut self, weight_ema: f64) -> Self {
        self.weight_ema = weight_ema;
        self
    }

    /// Subtract each row's mean gradient (parameters of two or more dims only).
    pub fn with_centring(mut self, centring: bool) -> Self {
        self.centring = centring;
        self
    }

    /// Step along the unit direction `d / ‖d‖` (off: along `d` itself).
    pub fn with_normalising(mut self, normalising: bool) -> Self {
        self.normalising = normalising;
        self
    }

    /// Scale the step by `1/s` instead of the weights' norm `s`.
    pub fn with_inverse_trust(mut self, inverse_trust: bool) -> Self {
        self.inverse_trust = inverse_trust;
        self
    }

    /// Divide `s` by `√(1 − β_wᵗ)`, undoing the weight EMA's start from zero.
    pub fn with_bias_correction(mut self, bias_correction: bool) -> Self {
        self.bias_correction = bias_correction;
        self
    }

    /// Upper bound (> 0) on the trust; `None` leaves it unbounded.
    pub fn with_trust_cap(mut self, trust_cap: Option<f64>) -> Self {
        self.trust_cap = trust_cap;
        self
    }

    /// The per-parameter optimizer, for
    /// [`ModuleOptimizer::with_group`](burn::optim::ModuleOptimizer::with_group);
    /// [`init`](Self::init) optimizes a whole module.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first value out of range: β_m or β_w outside
    /// [0, 1), a negative weight decay, an ε that is not positive (0 would divide a zero
    /// direction, such as a centred single-column gradient, by zero), a cap that is not
    /// positive, or any of them NaN.
    pub fn build(&self) -> Result<WnGradW> {
        let beta = |name: &str, value: f64| {
            if (0.0..1.0).contains(&value) {
                Ok(())
            } else {
                Err(Error::Config(format!(
                    "WNGradW {name} must be in [0, 1), got {value}"
                )))
            }
        };
        beta("momentum", self.momentum)?;
        beta("weight EMA", self.weight_ema)?;
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::Config(format!(
                "WNGradW weight decay must be finite and non-negative, got {}",
                self.weight_decay
            )));
        }
        if !(self.epsilon > 0.0 && self.epsilon.is_finite()) {
            return Err(Error::Config(format!(
                "WNGradW epsilon must be finite and positive, got {}",
                self.epsilon
            )));
        }
        if let Some(cap) = self.trust_cap
            && (cap.is_nan() || cap <= 0.0)
        {
            return Err(Error::Config(format!(
                "WNGradW trust cap must be positive, got {cap}"
            )));
        }
        Ok(WnGradW { config: self.clone() })
    }

    /// An optimizer for every parameter of a module, used as burn's `AdamWConfig::init()`
    /// is: `module = optimizer.step(lr, module, grads)`.
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn init(&self) -> Result<ModuleOptimizer> {
        Ok(ModuleOptimizer::from(self.build()?))
    }
}

/// WNGradW for one parameter at a time (burn's [`Optimizer`]): a normalised gradient
/// direction, scaled by the weights' own norm, with decoupled weight decay. Built,
/// checked, by [`WnGradWConfig::build`].
///
/// Per parameter `p` with gradient `g`, the norms, means and sums run over the
/// *reduction dims*: dims `1..` for a parameter of two or more dims (one value per index
/// of dim 0: per output channel of a convolution, per row of a linear weight), dim 0 for
/// a vector (a bias: the whole vector), none for a scalar (elementwise).
///
/// ```text
/// g' = g − mean(g)                          (≥ 2-D parameters, with centring)
/// d  = m = β_m m + (1 − β_m) g'             (with momentum, β_m > 0; else d = g')
/// u  = d / max(‖d‖, ε)                      (with normalising; else u = d)
/// w² = v = β_w v + (1 − β_w) p²             (with a weight EMA, β_w > 0; else w² = p²)
/// s  = max(√Σ w², ε) / max(√(1 − β_wᵗ), ε)  (the divisor with bias correction only)
/// trust = min(s or 1/s (inverse trust), cap)
/// p ← p − lr·wd·p;  p ← p − lr·u·trust
/// ```
///
/// `m` and `v` start at zero; `t` counts this parameter's steps from 1; the trust comes
/// from the weights before this step's decay.
///
/// **Scalars.** burn has no 0-D tensors; a PyTorch scalar parameter arrives as shape
/// `[1]`. The rule above goes by rank, and for one element the vector rule *is* the
/// scalar rule (no centring, `‖d‖ = |d|`, `√Σ p² = |p|`), so a `[1]` parameter steps
/// exactly as the original's 0-D one. We do not special-case "one element" beyond that:
/// a `[1, 1]` weight is a matrix to the original too (centred, so its direction is zero).
#[derive(Debug, Clone)]
pub struct WnGradW {
    /// Validated by `build`, the only constructor.
    config: WnGradWConfig,
}

/// What WNGradW keeps per parameter between steps; saved and loaded with burn's
/// optimizer records (`ModuleOptimizer::to_record`, `into_bytes`, `save`).
#[derive(Debug, Clone)]
pub struct WnGradWState<const D: usize> {
    /// Steps taken, the `t` of the bias correction.
    step: u64,
    /// `m`, with momentum only.
    momentum: Option<Tensor<D>>,
    /// `v`, the moving average of `p²`, with a weight EMA only.
    weight_ema: Option<Tensor<D>>,
}

impl<const D: usize> RecordState for WnGradWState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_scalar(prefix, "step", self.step.into());
        if let Some(momentum) = &self.momentum {
            out.push_tensor(prefix, "momentum", momentum.clone().into_data());
        }
        if let Some(weight_ema) = &self.weight_ema {
            out.push_tensor(prefix, "weight_ema", weight_ema.clone().into_data());
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let step = u64::try_from(src.take_scalar(prefix, "step")?).ok()?;
        let mut tensor = |leaf| {
            src.take_tensor(prefix, leaf)
                .map(|data| Tensor::from_data(data, device))
        };
        Some(WnGradWState {
            step,
            momentum: tensor("momentum"),
            weight_ema: tensor("weight_ema"),
        })
    }
}

impl Optimizer for WnGradW {
    type State<const D: usize> = WnGradWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let config = &self.config;
        let eps = config.epsilon;
        let dims = reduction_dims(D);
        // A state saved under another configuration may lack a buffer this one needs;
        // it then starts from zero, as on the first step.
        let (step, momentum, weight_ema) = match state {
            Some(state) => (state.step + 1, state.momentum, state.weight_ema),
            None => (1, None, None),
        };

        let grad = if config.centring && D >= 2 {
            grad.clone() - grad.mean_dims(&dims)
        } else {
            grad
        };
        let momentum = (config.momentum > 0.0).then(|| {
            let fresh = grad.clone().mul_scalar(1.0 - config.momentum);
            match momentum {
                Some(m) => m.mul_scalar(config.momentum) + fresh,
                None => fresh,
            }
        });
        let direction = momentum.clone().unwrap_or(grad);
        let update = if config.normalising {
            let norm = direction.clone().square().sum_dims(&dims).sqrt();
            direction / norm.clamp_min(eps)
        } else {
            direction
        };

        let squares = tensor.clone().square();
        let weight_ema = (config.weight_ema > 0.0).then(|| {
            let fresh = squares.clone().mul_scalar(1.0 - config.weight_ema);
            match weight_ema {
                Some(v) => v.mul_scalar(config.weight_ema) + fresh,
                None => fresh,
            }
        });
        let squares = weight_ema.clone().unwrap_or(squares);
        let mut scale = squares.sum_dims(&dims).sqrt().clamp_min(eps);
        if config.bias_correction {
            // f64 on the host: β_wᵗ underflows to 0 long before t leaves f64's range.
            let correction = (1.0 - config.weight_ema.powf(step as f64)).sqrt().max(eps);
            scale = scale.div_scalar(correction);
        }
        let trust = if config.inverse_trust {
            scale.recip()
        } else {
            scale
        };
        let trust = match config.trust_cap {
            Some(cap) => trust.clamp_max(cap),
            None => trust,
        };

        let decay = lr * config.weight_decay;
        let decayed = if decay == 0.0 {
            tensor
        } else {
            tensor.clone() - tensor.mul_scalar(decay)
        };
        let stepped = decayed - (update * trust).mul_scalar(lr);
        let state = WnGradWState {
            step,
            momentum,
            weight_ema,
        };
        (stepped, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        WnGradWState {
            step: state.step,
            momentum: state.momentum.map(|m| m.to_device(device)),
            weight_ema: state.weight_ema.map(|v| v.to_device(device)),
        }
    }
}

/// The dims one mean, norm or sum runs over: `1..` per index of dim 0 for two or more
/// dims, the whole vector for one, none (elementwise) for a scalar.
fn reduction_dims(rank: usize) -> Vec<usize> {
    match rank {
        0 => Vec::new(),
        1 => vec![0],
        _ => (1..rank).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::{Distribution, TensorData};

    fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    #[test]
    fn a_zero_gradient_leaves_only_the_decay() {
        let device = Device::flex();
        let optimizer = WnGradWConfig::new().with_weight_decay(0.1).build().unwrap();
        let p = random([3, 4], &device);
        let (stepped, _) = optimizer.step(0.5, p.clone(), Tensor::zeros([3, 4], &device), None);
        for (s, p) in values(stepped).iter().zip(values(p)) {
            assert!((s - p * 0.95).abs() <= 1e-6 * p.abs(), "{s} vs {}", p * 0.95);
        }
    }

    #[test]
    fn centring_makes_each_rows_update_mean_free() {
        let device = Device::flex();
        let optimizer = WnGradWConfig::new().with_weight_decay(0.0).build().unwrap();
        let p = random([4, 6], &device);
        // Every row's gradient has a large common part that centring removes.
        let g = random([4, 6], &device) + 3.0;
        let (stepped, _) = optimizer.step(0.1, p.clone(), g, None);
        let update = values(stepped - p);
        for row in update.chunks(6) {
            let mean = row.iter().sum::<f32>() / 6.0;
            let size = row.iter().map(|x| x.abs()).fold(0.0, f32::max);
            assert!(size > 1e-3 && mean.abs() < 1e-6, "row {row:?}");
        }
    }

    #[test]
    fn a_vector_is_one_group_and_a_one_element_vector_a_scalar() {
        let device = Device::flex();
        let optimizer = WnGradWConfig::new().with_weight_decay(0.0).build().unwrap();
        // Not centred (a vector), normalised over the whole vector: u = g/‖g‖ = (0.6, 0.8),
        // trust ‖p‖ = 5.
        let p = Tensor::<1>::from_data(TensorData::from([3.0f32, 4.0]), &device);
        let g = Tensor::<1>::from_data(TensorData::from([3.0f32, 4.0]), &device);
        let (stepped, _) = optimizer.step(0.1, p, g, None);
        let stepped = values(stepped);
        assert!(
            (stepped[0] - 2.7).abs() < 1e-6 && (stepped[1] - 3.6).abs() < 1e-6,
            "{stepped:?}"
        );
        // One element: u = sign(g), trust |p|.
        let p = Tensor::<1>::from_data(TensorData::from([-2.0f32]), &device);
        let g = Tensor::<1>::from_data(TensorData::from([-0.25f32]), &device);
        let (stepped, _) = optimizer.step(0.1, p, g, None);
        assert!((values(stepped)[0] - -1.8).abs() < 1e-6);
    }

    #[test]
    fn out_of_range_settings_are_config_errors() {
        let bad = [
            WnGradWConfig::new().with_momentum(1.0),
            WnGradWConfig::new().with_momentum(-0.1),
            WnGradWConfig::new().with_weight_ema(f64::NAN),
            WnGradWConfig::new().with_weight_decay(-1e-3),
            WnGradWConfig::new().with_epsilon(0.0),
            WnGradWConfig::new().with_epsilon(-1e-8),
            WnGradWConfig::new().with_trust_cap(Some(0.0)),
            WnGradWConfig::new().with_trust_cap(Some(f64::NAN)),
        ];
        for config in bad {
            assert!(matches!(config.build(), Err(Error::Config(_))), "{config:?}");
        }
        assert!(
            WnGradWConfig::new()
                .with_momentum(0.9)
                .with_trust_cap(Some(0.5))
                .build()
                .is_ok()
        );
    }

    /// Momentum, weight EMA and step count survive a save and load: the resumed
    /// optimizer's next step is the original's.
    #[test]
    fn state_survives_a_record_round_trip() {
        let device = Device::flex().autodiff();
        let config = WnGradWConfig::new()
            .with_momentum(0.9)
            .with_weight_ema(0.99)
            .with_bias_correction(true);
        let input = random([2, 5], &device);
        let grads = |model: &Linear, scale: f32| {
            let loss = model.forward(input.clone()).sin().sum().mul_scalar(scale);
            GradientsParams::from_grads(loss.backward(), model)
        };
        let mut model: Linear = LinearConfig::new(5, 4).init(&device);
        let mut original = config.init().unwrap();
        for scale in [1.0, -0.5, 2.0] {
            let g = grads(&model, scale);
            model = original.step(0.01, model, g);
        }
        let bytes = original.into_bytes().unwrap();
        let mut restored = config.init().unwrap().from_bytes(bytes).unwrap();
        let expected = original.step(0.01, model.clone(), grads(&model, 0.3));
        let actual = restored.step(0.01, model.clone(), grads(&model, 0.3));
        // A fresh optimizer (momentum and EMA from zero, t = 1) steps elsewhere.
        let fresh = config
            .init()
            .unwrap()
            .step(0.01, model.clone(), grads(&model, 0.3));
        let weights = |m: &Linear| values(m.weight.val());
        assert_eq!(weights(&expected), weights(&actual));
        assert_ne!(weights(&expected), weights(&fresh));
    }
}
