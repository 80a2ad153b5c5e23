//! The command-line contract. Other tools script against it: keep it stable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::CliError;

/// Representation-alignment distances between images, as seen by a frozen teacher.
#[derive(Debug, Parser)]
#[command(name = "repalign", version, about)]
pub struct Cli {
    /// Backend to compute on: flex, wgpu, cuda or tch, among those this build has
    /// [default: the first of cuda, wgpu, tch, flex with a device here; see `repalign devices`].
    #[arg(long, global = true, env = "REPALIGN_DEVICE", value_name = "BACKEND")]
    pub device: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The RepAlign loss between an output image and a target image.
    Compare(CompareArgs),
    /// List the taps a teacher records (index, name, kind, output shape).
    Layers(LayersArgs),
    /// Download pretrained weights and sample photos into the cache (ImageNet-trained
    /// weights: non-commercial research terms apply).
    Fetch(FetchArgs),
    /// Train a small 2x super-resolution student on the fetched photos with the RepAlign
    /// loss and, for comparison, with a pixel L1 loss; judge both on held-out photos.
    Train(TrainArgs),
    /// Does the loss help? Train the 2x super-resolution student with each of several
    /// losses (L1, L1 + RepAlign, L1 + LPIPS, …) and judge the held-out photos by PSNR,
    /// SSIM, LPIPS, DISTS and RepAlign under teachers none was trained with.
    Study(StudyArgs),
    /// List the backends: which this build has, the device each finds, the default.
    Devices,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// What to fetch (default: everything); see --list.
    pub names: Vec<String>,
    /// Cache folder [default: $REPALIGN_CACHE, else $XDG_CACHE_HOME/repalign, else ~/.cache/repalign].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// List what can be fetched and exit.
    #[arg(long)]
    pub list: bool,
    /// Fetch weights from a URL instead (the hub path): `https://…`, `file://…`, a
    /// path, or `torchvision:NAME` for torchvision's ImageNet weights of a teacher.
    #[arg(long, conflicts_with_all = ["names", "list"])]
    pub url: Option<String>,
    /// Teacher name to store the URL's weights under [default: NAME of torchvision:NAME].
    #[arg(long = "as", requires = "url", value_name = "NAME")]
    pub as_name: Option<String>,
    /// sha256 of the URL's file (all 64 hex digits, or a prefix of at least 8)
    /// [default: the prefix in a torchvision file name].
    #[arg(long, requires = "url", value_name = "HEX")]
    pub sha256: Option<String>,
}

/// Which teacher, with which weights, at which input size.
#[derive(Debug, Args)]
pub struct TeacherArgs {
    /// Teacher name, e.g. `vgg16`, `vgg19_bn`, or the family `vgg` to infer the variant
    /// (required, except by `compare --metric` with a judge of its own).
    #[arg(long)]
    pub teacher: Option<String>,
    /// Safetensors weights in the reference implementation's key layout
    /// [default: the teacher's file in the cache, see `repalign fetch`].
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Cache folder to look for fetched weights in (see `repalign fetch --dir`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Preprocessing size: Resize(S, bicubic, antialias) then CenterCrop(S)
    /// [default: the teacher's preset: 224 for most, up to 600 for EfficientNet-B7].
    #[arg(long, conflicts_with = "no_resize")]
    pub size: Option<usize>,
    /// Feed images at their own size (normalisation only).
    #[arg(long)]
    pub no_resize: bool,
    /// The original's current preprocessing instead of the preset: torchvision
    /// `Resize((H, W))` (bilinear, antialias, aspect not kept, no crop), then the
    /// teacher's normalisation.
    #[arg(long, value_name = "HxW", value_parser = parse_height_width, conflicts_with_all = ["size", "no_resize"])]
    pub resize: Option<(usize, usize)>,
    /// Layer kinds to tap, comma-separated: conv2d, linear, relu, gelu, silu, norm
    /// [default: conv2d,linear, the layers the original's hooks record].
    #[arg(long, value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// Keep only the taps whose module path matches one of these patterns,
    /// comma-separated; `*` matches any run of characters (`features.*`, `*.mlp.*`).
    #[arg(long, value_delimiter = ',')]
    pub taps: Vec<String>,
}

/// `HxW` (e.g. `224x224`), both at least 1.
fn parse_height_width(text: &str) -> Result<(usize, usize), String> {
    let parsed = text
        .split_once(['x', 'X'])
        .and_then(|(h, w)| Some((h.trim().parse::<usize>().ok()?, w.trim().parse::<usize>().ok()?)));
    match parsed {
        Some((height, width)) if height > 0 && width > 0 => Ok((height, width)),
        _ => Err(format!(
            "expected HEIGHTxWIDTH with both at least 1, e.g. 224x224, not `{text}`"
        )),
    }
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The student's output (PNG or JPEG), or a folder of them.
    pub output: PathBuf,
    /// The ground truth (PNG or JPEG), or a folder whose files pair with OUTPUT's by name.
    pub target: PathBuf,
    #[command(flatten)]
    pub teacher: TeacherArgs,
    /// What to measure: the RepAlign loss under --teacher, or an independent judge
    /// (LPIPS, DISTS and SSIM as their reference packages compute them; PSNR), which
    /// compares the images at their own size with weights from `repalign fetch`.
    #[arg(long, value_enum, default_value_t = MetricKind::Repalign)]
    pub metric: MetricKind,
    /// Layer weighting: none, exp (the seed's use_weight) or linear.
    #[arg(long, default_value = "none")]
    pub weighting: String,
    /// How each tap is L2-normalised: in groups of --group-size neighbours (the first
    /// published version) or each sample's tap as a whole (the original's current one).
    #[arg(long, value_enum, default_value_t = NormalizationKind::Groups)]
    pub normalization: NormalizationKind,
    /// The precision the teacher computes in (the loss stays f32); f16 and bf16 need a
    /// device with that arithmetic. docs/guide/backends.md says how far each is from f32.
    #[arg(long, value_enum, default_value_t = PrecisionKind::F32)]
    pub precision: PrecisionKind,
    /// Features are L2-normalised in groups of this many neighbours.
    #[arg(long, default_value_t = 2)]
    pub group_size: usize,
    /// Weight the loss by a grey mask of the output's size (white counts fully, black
    /// not at all); one pair only.
    #[arg(long, value_name = "FILE.png", conflicts_with = "heatmap")]
    pub mask: Option<PathBuf>,
    /// Print the loss and its per-layer parts as JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw where the distance comes from over the output image, as a PNG.
    #[arg(long, value_name = "FILE.png")]
    pub heatmap: Option<PathBuf>,
    /// Chart the loss per layer (weighted contributions; the original's mean and element
    /// count), as SVG or PNG by the file's extension.
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    pub plot: Option<PathBuf>,
    /// Folder mode: pairs of the same size go through the teacher this many at a time.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub batch: u16,
    /// Refuse images of more pixels than this (checked before decoding).
    #[arg(long, default_value_t = crate::image_io::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Write d(loss)/d(output pixels in [0,1]) as a float32 .npy of shape (1,3,H,W).
    #[arg(long, value_name = "FILE.npy")]
    pub grad_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LayersArgs {
    #[command(flatten)]
    pub teacher: TeacherArgs,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Teacher the RepAlign loss trains with (fetched weights).
    #[arg(long, default_value = "vgg16")]
    pub teacher: String,
    /// Other teachers that judge the held-out results, comma-separated.
    #[arg(long, default_value = "efficientnet_lite0,mobilenet_v2")]
    pub judges: String,
    /// Cache folder with the fetched weights and photos (see `repalign fetch --dir`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Optimiser steps per run (both runs get the same budget).
    #[arg(long, default_value_t = 400)]
    pub steps: usize,
    /// Crops per step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Side of the ground-truth crops (the student sees half).
    #[arg(long, default_value_t = 48)]
    pub crop: usize,
    /// Fixed random crops taken from each training photo.
    #[arg(long, default_value_t = 8)]
    pub patches_per_photo: usize,
    /// Optimiser of both runs: adamw (weight decay 1e-4) or wngradw (the original's
    /// WNGradW with its defaults).
    #[arg(long, value_enum, default_value_t = OptimizerKind::AdamW)]
    pub optimizer: OptimizerKind,
    /// Learning rate of the optimiser.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Weight of a pixel L1 term added to the RepAlign run (0: RepAlign alone).
    #[arg(long, default_value_t = 0.0)]
    pub pixel_weight: f64,
    /// Layer kinds the training teacher taps, as `compare --kinds` (the judges keep
    /// Conv2d and Linear).
    #[arg(long, value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// Module-path patterns the training teacher's taps must match, as `compare --taps`.
    #[arg(long, value_delimiter = ',')]
    pub taps: Vec<String>,
    /// Layer weighting of the RepAlign loss: none, exp or linear.
    #[arg(long, default_value = "none")]
    pub weighting: String,
    /// How the RepAlign loss normalises each tap: groups (of 2) or sample.
    #[arg(long, value_enum, default_value_t = NormalizationKind::Groups)]
    pub normalization: NormalizationKind,
    /// The precision the teacher computes in (the loss stays f32); f16 and bf16 need a
    /// device with that arithmetic. docs/guide/backends.md says how far each is from f32.
    #[arg(long, value_enum, default_value_t = PrecisionKind::F32)]
    pub precision: PrecisionKind,
    /// Channels of the student's hidden layers.
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Convolutions in the student.
    #[arg(long, default_value_t = 4)]
    pub depth: usize,
    /// Seed for the crops and the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Memory budget of the target-feature cache, MiB.
    #[arg(long, default_value_t = 1024)]
    pub cache_budget_mib: u64,
    /// Also keep target features on disk here (reused by later runs).
    #[arg(long)]
    pub feature_cache: Option<PathBuf>,
    /// Save the student every N steps (and at the end).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    /// Where the images, plot, table and checkpoints go.
    #[arg(long, default_value = "train-out")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct StudyArgs {
    /// The methods, comma-separated, from: l1, l1+repalign (first-version loss),
    /// l1+repalign-sample (whole-sample normalisation), l1+lpips-vgg, repalign.
    #[arg(
        long,
        default_value = "l1,l1+repalign,l1+repalign-sample,l1+lpips-vgg,repalign"
    )]
    pub methods: String,
    /// The weight λ of each perceptual term next to L1, as NAME=VALUE pairs
    /// (comma-separated); the defaults are what `--sweep` picked (docs/guide/training.md).
    #[arg(long, default_value = "repalign=1,repalign-sample=0.1,lpips-vgg=1")]
    pub lambdas: String,
    /// Instead of the study, pick each λ: train every `l1+X` method with λ in
    /// {0.01, 0.1, 1} and keep the one with the lowest LPIPS-alex on the validation
    /// photo (not a test photo).
    #[arg(long)]
    pub sweep: bool,
    /// Seeds (comma-separated): each trains every method once from its own start and
    /// crops; the table gives the mean and standard deviation over seeds.
    #[arg(long, default_value = "0")]
    pub seeds: String,
    /// Teacher of the RepAlign methods (fetched weights).
    #[arg(long, default_value = "vgg16")]
    pub teacher: String,
    /// Teachers that judge by the RepAlign distance, none of them trained with.
    #[arg(long, default_value = "efficientnet_lite0,mobilenet_v2")]
    pub judges: String,
    /// Cache folder with the fetched weights and photos (see `repalign fetch --dir`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Optimiser steps per run.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Crops per step.
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
    /// Side of the ground-truth crops (the student sees half).
    #[arg(long, default_value_t = 96)]
    pub crop: usize,
    /// Random crops taken from each training photo.
    #[arg(long, default_value_t = 6)]
    pub patches_per_photo: usize,
    /// Side of the centre crop of each held-out photo that is judged.
    #[arg(long, default_value_t = 256)]
    pub eval_size: usize,
    /// Optimiser (AdamW, or WNGradW with its defaults).
    #[arg(long, value_enum, default_value_t = OptimizerKind::AdamW)]
    pub optimizer: OptimizerKind,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Channels of the student's hidden layers.
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Convolutions in the student.
    #[arg(long, default_value_t = 4)]
    pub depth: usize,
    /// A run of seconds for tests: 3 steps, 64 px crops, one crop per photo, 64 px
    /// held-out crops (overrides those flags).
    #[arg(long)]
    pub quick: bool,
    /// Where the table and the pictures go.
    #[arg(long, default_value = "study-out")]
    pub out: PathBuf,
}

/// `repalign train --optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerKind {
    /// burn's AdamW.
    #[value(name = "adamw")]
    AdamW,
    /// `repalign::optim::WnGradWConfig`'s defaults.
    #[value(name = "wngradw")]
    WnGradW,
}

/// `compare --metric`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricKind {
    /// The RepAlign loss (lower is closer).
    Repalign,
    /// LPIPS v0.1 on AlexNet (a distance).
    LpipsAlex,
    /// LPIPS v0.1 on VGG16 (a distance).
    LpipsVgg,
    /// DISTS (a distance).
    Dists,
    /// SSIM, Gaussian window 11, σ 1.5 (a similarity, 1 for identical images).
    Ssim,
    /// PSNR in dB on [0, 1] (a similarity, 100 for identical images).
    Psnr,
}

impl MetricKind {
    /// The judge, or `None` for the RepAlign loss.
    pub(crate) fn judge(self) -> Option<repalign::judge::Metric> {
        use repalign::judge::Metric;
        match self {
            MetricKind::Repalign => None,
            MetricKind::LpipsAlex => Some(Metric::LpipsAlex),
            MetricKind::LpipsVgg => Some(Metric::LpipsVgg),
            MetricKind::Dists => Some(Metric::Dists),
            MetricKind::Ssim => Some(Metric::Ssim),
            MetricKind::Psnr => Some(Metric::Psnr),
        }
    }
}

/// `--normalization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NormalizationKind {
    /// Groups of neighbours, each divided by its L2 norm.
    Groups,
    /// Each sample's tap divided by its L2 norm (+1e-8).
    Sample,
}

impl NormalizationKind {
    /// The library's setting, with groups of `group_size`.
    pub(crate) fn with_group_size(self, group_size: usize) -> repalign::Normalization {
        match self {
            NormalizationKind::Groups => repalign::Normalization::Groups { size: group_size },
            NormalizationKind::Sample => repalign::Normalization::Sample,
        }
    }
}

/// `--precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionKind {
    F32,
    F16,
    Bf16,
}

impl From<PrecisionKind> for repalign::Precision {
    fn from(kind: PrecisionKind) -> Self {
        match kind {
            PrecisionKind::F32 => repalign::Precision::F32,
            PrecisionKind::F16 => repalign::Precision::F16,
            PrecisionKind::Bf16 => repalign::Precision::Bf16,
        }
    }
}

/// `--weighting`, parsed where `compare` and `train` both read it.
pub(crate) fn weighting(name: &str) -> Result<repalign::Weighting, CliError> {
    repalign::Weighting::parse(name)
        .ok_or_else(|| CliError::Usage(format!("--weighting must be none, exp or linear, not `{name}`")))
}
