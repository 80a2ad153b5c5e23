//! Taps: the recorded outputs of selected teacher layers (the seed's forward hooks).
//!
//! A teacher's forward pass calls [`Taps::record`] at every layer that PyTorch would
//! hook, in execution order, with the layer's PyTorch module path as its name. The
//! [`TapSelector`] decides which of those calls keep the tensor.

use std::fmt;

use burn::tensor::{FloatDType, Tensor};

/// The PyTorch module type of a tapped layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LayerKind {
    /// `nn.Conv2d` (tapped by default).
    Conv2d,
    /// `nn.Linear` (tapped by default).
    Linear,
    /// `nn.ReLU` / `nn.ReLU6`.
    Relu,
    /// `nn.GELU`.
    Gelu,
    /// `nn.SiLU`.
    Silu,
    /// `nn.BatchNorm2d`, `nn.LayerNorm`.
    Norm,
}

impl LayerKind {
    /// Every kind, for listings and parsing.
    pub const ALL: [LayerKind; 6] = [
        LayerKind::Conv2d,
        LayerKind::Linear,
        LayerKind::Relu,
        LayerKind::Gelu,
        LayerKind::Silu,
        LayerKind::Norm,
    ];

    /// The PyTorch class name.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Conv2d => "Conv2d",
            LayerKind::Linear => "Linear",
            LayerKind::Relu => "ReLU",
            LayerKind::Gelu => "GELU",
            LayerKind::Silu => "SiLU",
            LayerKind::Norm => "Norm",
        }
    }

    /// Parses a class name, case-insensitively.
    pub fn parse(name: &str) -> Option<LayerKind> {
        LayerKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which layers to tap: by kind, optionally narrowed by module-path patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapSelector {
    kinds: Vec<LayerKind>,
    patterns: Vec<String>,
}

impl Default for TapSelector {
    /// Conv2d and Linear, every name: the seed's selection.
    fn default() -> Self {
        TapSelector {
            kinds: vec![LayerKind::Conv2d, LayerKind::Linear],
            patterns: Vec::new(),
        }
    }
}

impl TapSelector {
    /// The selection spelled out for the target cache's fingerprint (see
    /// `RepAlignLoss::fingerprint`).
    pub(crate) fn fingerprint(&self) -> String {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
        // Patterns are the user's text: quoted, so that no comma can join two.
        let patterns = serde_json::Value::from(self.patterns.clone());
        format!("kinds={};names={patterns}", kinds.join(","))
    }

    /// The selection in words, for errors: `kinds Conv2d, Linear; names features.*`.
    pub(crate) fn describe(&self) -> String {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
        let mut text = format!("kinds {}", kinds.join(", "));
        if !self.patterns.is_empty() {
            text.push_str(&format!("; names {}", self.patterns.join(", ")));
        }
        text
    }

    /// Taps layers of these kinds (replacing the default Conv2d + Linear).
    pub fn with_kinds(mut self, kinds: impl IntoIterator<Item = LayerKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Keeps only layers whose module path matches one of these patterns; `*` matches
    /// any run of characters (`features.*`, `*.attn.qkv`). No patterns: every name.
    pub fn with_name_patterns(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.patterns = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Whether a layer is tapped.
    pub fn selects(&self, name: &str, kind: LayerKind) -> bool {
        self.kinds.contains(&kind)
            && (self.patterns.is_empty() || self.patterns.iter().any(|p| glob_match(p, name)))
    }
}

/// `*`-only glob matching, iterative with backtracking to the last star.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// What a tap is: name, kind and the shape of the recorded output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapInfo {
    /// PyTorch module path, e.g. `features.0` or `layer1.0.downsample.0`.
    pub name: String,
    /// Module type.
    pub kind: LayerKind,
    /// Shape of the layer output, batch first, as PyTorch reports it.
    pub shape: Vec<usize>,
}

/// One recorded layer output.
#[derive(Debug, Clone)]
pub struct Tap {
    /// Name, kind, shape.
    pub info: TapInfo,
    /// The output viewed as `(B, C, L)`: `(B,C,H,W)` → `(B,C,H*W)`, `(B,S,D)` as is,
    /// `(B,D)` → `(B,D,1)` (SPEC §3 step 1).
    pub value: Tensor<3>,
}

/// The recorder a teacher's forward pass writes into.
pub struct Taps<'a> {
    selector: &'a TapSelector,
    recorded: Vec<Tap>,
    consumer: Option<&'a mut dyn FnMut(Tap)>,
}

impl fmt::Debug for Taps<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Taps")
            .field("selector", &self.selector)
            .field("recorded", &self.recorded)
            .field("consuming", &self.consumer.is_some())
            .finish()
    }
}

impl<'a> Taps<'a> {
    /// An empty recorder for one forward pass.
    pub fn new(selector: &'a TapSelector) -> Self {
        Taps {
            selector,
            recorded: Vec::new(),
            consumer: None,
        }
    }

    /// A recorder that hands each selected tap to `consumer` as soon as the layer has
    /// produced it, and keeps nothing: the loss can then reduce each tap against its
    /// target while the teacher runs, so the taps never all live at once.
    pub fn consuming(selector: &'a TapSelector, consumer: &'a mut dyn FnMut(Tap)) -> Self {
        Taps {
            selector,
            recorded: Vec::new(),
            consumer: Some(consumer),
        }
    }

    /// Records `output` of layer `name` if the selector wants it. Cloning a burn tensor
    /// bumps a reference count; nothing is copied.
    pub fn record<const D: usize>(&mut self, name: &str, kind: LayerKind, output: &Tensor<D>) {
        if !self.selector.selects(name, kind) {
            return;
        }
        let shape = output.dims().to_vec();
        // A half-precision teacher's taps are compared in f32, as PyTorch's autocast
        // leaves a loss computed outside its region (a no-op for an f32 tap).
        let output = output.clone().cast(FloatDType::F32);
        let value = match D {
            2 => output.reshape([shape[0] as i64, shape[1] as i64, 1]),
            _ => output.reshape([shape[0] as i64, shape[1] as i64, -1]),
        };
        let tap = Tap {
            info: TapInfo {
                name: name.to_owned(),
                kind,
                shape,
            },
            value,
        };
        match self.consumer.as_mut() {
            Some(consumer) => consumer(tap),
            None => self.recorded.push(tap),
        }
    }

    /// The recorded taps, in execution order (none for a consuming recorder).
    pub fn into_vec(self) -> Vec<Tap> {
        self.recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_stars_anywhere() {
        assert!(glob_match("features.*", "features.10"));
        assert!(glob_match("*.attn.qkv", "blocks.3.attn.qkv"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("layer1.*.conv*", "layer1.0.conv2"));
        assert!(!glob_match("features.*", "classifier.0"));
        assert!(!glob_match("features.1", "features.10"));
    }

    #[test]
    fn default_selector_is_conv_and_linear() {
        let selector = TapSelector::default();
        assert!(selector.selects("features.0", LayerKind::Conv2d));
        assert!(selector.selects("classifier.0", LayerKind::Linear));
        assert!(!selector.selects("features.1", LayerKind::Relu));
        let narrowed = selector.with_name_patterns(["classifier.*"]);
        assert!(!narrowed.selects("features.0", LayerKind::Conv2d));
        assert!(narrowed.selects("classifier.6", LayerKind::Linear));
    }
}
