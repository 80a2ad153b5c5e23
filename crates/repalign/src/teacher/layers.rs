//! Frozen building blocks with PyTorch paths: each layer knows its module path and
//! records its own output in the [`Taps`].
//!
//! Weights are plain constant tensors (not `Param`s): the teacher never trains, so
//! burn's autodiff records no gradient work for them, only for the input.

use burn::tensor::{Tensor, activation, module, ops::ConvOptions};

use crate::error::Result;
use crate::taps::{LayerKind, Taps};
use crate::weights::Scope;

/// A weight in the dtype of the activations it meets: weights stay f32 and a
/// half-precision pass casts them as it goes, as `torch.autocast` does (burn's `cast`
/// returns the tensor itself when the dtype already matches, so f32 costs nothing).
pub(crate) fn like<const D: usize, const E: usize>(weight: &Tensor<D>, input: &Tensor<E>) -> Tensor<D> {
    weight.clone().cast(input.dtype())
}

/// `nn.Conv2d`.
#[derive(Debug, Clone)]
pub(crate) struct Conv2d {
    path: String,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
}

/// Shape and options of a convolution, as `nn.Conv2d` takes them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    /// Square kernel side.
    pub kernel: usize,
    pub stride: usize,
    /// `(begin, end)` padding for height and width; symmetric in torchvision,
    /// asymmetric for TensorFlow's "SAME" padding.
    pub padding: [(usize, usize); 2],
    pub groups: usize,
    pub bias: bool,
}

impl ConvSpec {
    /// A `kernel`x`kernel` convolution with stride 1, symmetric `padding`, bias, one group.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, padding: usize) -> Self {
        ConvSpec {
            in_channels,
            out_channels,
            kernel,
            stride: 1,
            padding: [(padding, padding); 2],
            groups: 1,
            bias: true,
        }
    }

    /// Sets the stride.
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the number of groups (`in_channels` for a depthwise convolution).
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// No bias (convolutions followed by BatchNorm).
    pub fn without_bias(mut self) -> Self {
        self.bias = false;
        self
    }
}

impl Conv2d {
    /// Takes `weight` (and `bias`) of the module `w`.
    pub fn load(mut w: Scope<'_>, spec: ConvSpec) -> Result<Self> {
        let weight = w.take(
            "weight",
            [
                spec.out_channels,
                spec.in_channels / spec.groups,
                spec.kernel,
                spec.kernel,
            ],
        )?;
        let bias = if spec.bias {
            Some(w.take("bias", [spec.out_channels])?)
        } else {
            None
        };
        let options = ConvOptions::new_with_padding([spec.stride; 2], spec.padding, [1, 1], spec.groups);
        Ok(Conv2d {
            path: w.path().to_owned(),
            weight,
            bias,
            options,
        })
    }

    /// The convolution alone.
    fn apply(&self, input: Tensor<4>) -> Tensor<4> {
        let weight = like(&self.weight, &input);
        let bias = self.bias.as_ref().map(|bias| like(bias, &input));
        module::conv2d(input, weight, bias, self.options.clone())
    }

    /// Convolves and records the output.
    pub fn forward(&self, input: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let output = self.apply(input);
        taps.record(&self.path, LayerKind::Conv2d, &output);
        output
    }

    /// Convolves, then applies an activation that PyTorch runs *in place* (e.g.
    /// `nn.ReLU(inplace=True)` at `activation_path`).
    ///
    /// The conv's forward hook stored the very tensor the activation then overwrites,
    /// so by the time the loss reads it, the conv tap holds the activated values. We
    /// record that same value to stay number-for-number with the reference.
    pub fn forward_in_place(
        &self,
        input: Tensor<4>,
        activation: Activation,
        activation_path: &str,
        taps: &mut Taps,
    ) -> Tensor<4> {
        activate_in_place(
            self.apply(input),
            (&self.path, LayerKind::Conv2d),
            activation,
            activation_path,
            taps,
        )
    }
}

/// `nn.Linear`.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    path: String,
    /// Stored as `(in, out)`, burn's layout (PyTorch keeps `(out, in)`).
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
}

impl Linear {
    /// Takes `weight` `(out, in)` and `bias` of the module `w`.
    pub fn load(mut w: Scope<'_>, in_features: usize, out_features: usize) -> Result<Self> {
        let weight = w.take("weight", [out_features, in_features])?.transpose();
        let bias = Some(w.take("bias", [out_features])?);
        Ok(Linear {
            path: w.path().to_owned(),
            weight,
            bias,
        })
    }

    fn apply<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let weight = like(&self.weight, &input);
        let bias = self.bias.as_ref().map(|bias| like(bias, &input));
        module::linear(input, weight, bias)
    }

    /// Applies the layer and records the output.
    pub fn forward<const D: usize>(&self, input: Tensor<D>, taps: &mut Taps) -> Tensor<D> {
        let output = self.apply(input);
        taps.record(&self.path, LayerKind::Linear, &output);
        output
    }

    /// Like [`Conv2d::forward_in_place`], for a Linear followed by an in-place activation.
    pub fn forward_in_place<const D: usize>(
        &self,
        input: Tensor<D>,
        activation: Activation,
        activation_path: &str,
        taps: &mut Taps,
    ) -> Tensor<D> {
        activate_in_place(
            self.apply(input),
            (&self.path, LayerKind::Linear),
            activation,
            activation_path,
            taps,
        )
    }
}

/// `nn.BatchNorm2d` in eval mode, folded to `x * scale + shift` the way PyTorch's CPU
/// kernel evaluates it (`scale = γ / √(var + ε)`, `shift = β − mean · scale`).
#[derive(Debug, Clone)]
pub(crate) struct BatchNorm2d {
    path: String,
    scale: Tensor<4>,
    shift: Tensor<4>,
}

impl BatchNorm2d {
    /// Takes the four statistics tensors of the module `w` (and skips
    /// `num_batches_tracked`).
    pub fn load(mut w: Scope<'_>, channels: usize, eps: f64) -> Result<Self> {
        let gamma = w.take("weight", [channels])?;
        let beta = w.take("bias", [channels])?;
        let mean = w.take("running_mean", [channels])?;
        let var = w.take("running_var", [channels])?;
        w.skip("num_batches_tracked");
        let scale = gamma / (var + eps).sqrt();
        let shift = beta - mean * scale.clone();
        Ok(BatchNorm2d {
            path: w.path().to_owned(),
            scale: scale.reshape([1, channels as i64, 1, 1]),
            shift: shift.reshape([1, channels as i64, 1, 1]),
        })
    }

    fn apply(&self, input: Tensor<4>) -> Tensor<4> {
        let (scale, shift) = (like(&self.scale, &input), like(&self.shift, &input));
        input * scale + shift
    }

    /// Normalises and records the output (kind `Norm`).
    pub fn forward(&self, input: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let output = self.apply(input);
        taps.record(&self.path, LayerKind::Norm, &output);
        output
    }

    /// Normalises, then an in-place activation (see [`Conv2d::forward_in_place`]).
    pub fn forward_in_place(
        &self,
        input: Tensor<4>,
        activation: Activation,
        activation_path: &str,
        taps: &mut Taps,
    ) -> Tensor<4> {
        activate_in_place(
            self.apply(input),
            (&self.path, LayerKind::Norm),
            activation,
            activation_path,
            taps,
        )
    }
}

/// An in-place activation (`inplace=True`) applied to the output of `layer`: both the
/// layer's tap and the activation's tap end up holding the activated tensor, as
/// PyTorch's hook list does.
fn activate_in_place<const D: usize>(
    output: Tensor<D>,
    (layer_path, layer_kind): (&str, LayerKind),
    activation: Activation,
    activation_path: &str,
    taps: &mut Taps,
) -> Tensor<D> {
    let output = activation.apply(output);
    taps.record(layer_path, layer_kind, &output);
    taps.record(activation_path, activation.kind(), &output);
    output
}

/// Activations as torchvision modules them, with the tap kind each records as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `nn.ReLU`.
    Relu,
    /// `nn.ReLU6` (recorded as kind `ReLU`).
    Relu6,
    /// `nn.SiLU`.
    Silu,
    /// `nn.GELU` (exact, erf-based).
    Gelu,
}

impl Activation {
    pub fn apply<const D: usize>(self, input: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => activation::relu(input),
            Activation::Relu6 => input.clamp(0.0, 6.0),
            Activation::Silu => activation::silu(input),
            Activation::Gelu => match super::gelu::on_host(&input) {
                Some(output) => output,
                None => activation::gelu(input),
            },
        }
    }

    pub fn kind(self) -> LayerKind {
        match self {
            Activation::Relu | Activation::Relu6 => LayerKind::Relu,
            Activation::Silu => LayerKind::Silu,
            Activation::Gelu => LayerKind::Gelu,
        }
    }

    /// Applies the activation (a module at `path`) and records its output.
    ///
    /// If the activation is in place in PyTorch (`inplace=True`) and its input is the
    /// output of a tapped layer, use the layer's `forward_*_in_place` instead: the
    /// layer's tap must then hold the activated values too.
    pub fn forward<const D: usize>(self, input: Tensor<D>, path: &str, taps: &mut Taps) -> Tensor<D> {
        let output = self.apply(input);
        taps.record(path, self.kind(), &output);
        output
    }
}

/// Deferred recording, for outputs that PyTorch modifies in place *after* later layers
/// have run: in torchvision's ResNet blocks the last BatchNorm's output is overwritten
/// by `out += identity; relu(out)`, but the downsample branch that computes `identity`
/// is hooked in between. The caller computes first, then records in execution order.
impl Conv2d {
    /// The convolution, not recorded; pair with [`Conv2d::record`].
    pub fn forward_untapped(&self, input: Tensor<4>) -> Tensor<4> {
        self.apply(input)
    }

    /// Records `output` as this layer's tap.
    pub fn record(&self, output: &Tensor<4>, taps: &mut Taps) {
        taps.record(&self.path, LayerKind::Conv2d, output);
    }
}

impl BatchNorm2d {
    /// The normalisation, not recorded; pair with [`BatchNorm2d::record`].
    pub fn forward_untapped(&self, input: Tensor<4>) -> Tensor<4> {
        self.apply(input)
    }

    /// Records `output` as this layer's tap (kind `Norm`).
    pub fn record(&self, output: &Tensor<4>, taps: &mut Taps) {
        taps.record(&self.path, LayerKind::Norm, output);
    }
}

/// A convolution, an optional BatchNorm and an optional activation that PyTorch runs
/// *in place* (`inplace=True`), each with its own tap: VGG's and AlexNet's
/// `features`, SqueezeNet's Fire convs, ResNet's conv-bn-relu, torchvision's
/// `Conv2dNormActivation` (MobileNetV2, EfficientNet).
///
/// Because the activation is in place, the tap of the layer before it (the norm, or
/// the conv when there is none) holds the activated values; see
/// [`Conv2d::forward_in_place`].
#[derive(Debug, Clone)]
pub(crate) struct ConvNormAct {
    conv: Conv2d,
    norm: Option<BatchNorm2d>,
    /// The activation and its module's path (its tap name).
    activation: Option<(Activation, String)>,
}

impl ConvNormAct {
    /// The layers as loaded (each from its own path).
    pub fn new(conv: Conv2d, norm: Option<BatchNorm2d>, activation: Option<(Activation, String)>) -> Self {
        ConvNormAct {
            conv,
            norm,
            activation,
        }
    }

    /// torchvision's `Conv2dNormActivation` at `w`: the conv (no bias) at `0`, the
    /// BatchNorm at `1`, the activation, if any, at `2`.
    pub fn load_torchvision(
        mut w: Scope<'_>,
        spec: ConvSpec,
        eps: f64,
        activation: Option<Activation>,
    ) -> Result<Self> {
        let conv = Conv2d::load(w.at(0), spec.without_bias())?;
        let norm = BatchNorm2d::load(w.at(1), spec.out_channels, eps)?;
        let activation = activation.map(|activation| (activation, w.path_of(2)));
        Ok(ConvNormAct::new(conv, Some(norm), activation))
    }

    /// Runs the layers, recording each.
    pub fn forward(&self, x: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        match (&self.norm, &self.activation) {
            (None, None) => self.conv.forward(x, taps),
            (None, Some((activation, path))) => self.conv.forward_in_place(x, *activation, path, taps),
            (Some(norm), None) => norm.forward(self.conv.forward(x, taps), taps),
            (Some(norm), Some((activation, path))) => {
                let x = self.conv.forward(x, taps);
                norm.forward_in_place(x, *activation, path, taps)
            }
        }
    }

    /// Runs the layers, then adds `residual` the way torchvision's `result += input`
    /// does: in place on the output, so every tap that holds it (the norm's, or the
    /// conv's when there is none, and the activation's) holds the sum.
    pub fn forward_add_in_place(&self, x: Tensor<4>, residual: Tensor<4>, taps: &mut Taps) -> Tensor<4> {
        let mut output = self.conv.forward_untapped(x);
        if let Some(norm) = &self.norm {
            self.conv.record(&output, taps);
            output = norm.forward_untapped(output);
        }
        if let Some((activation, _)) = &self.activation {
            output = activation.apply(output);
        }
        let output = output + residual;
        match &self.norm {
            Some(norm) => norm.record(&output, taps),
            None => self.conv.record(&output, taps),
        }
        if let Some((activation, path)) = &self.activation {
            taps.record(path, activation.kind(), &output);
        }
        output
    }
}
