//! The command-line contract. Other tools script against it: keep it stable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Representation-alignment distances between images, as seen by a frozen teacher.
#[derive(Debug, Parser)]
#[command(name = "repalign", version, about)]
pub struct Cli {
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
}

/// Which teacher, with which weights, at which input size.
#[derive(Debug, Args)]
pub struct TeacherArgs {
    /// Teacher name, e.g. `vgg16`, `vgg19_bn`, or the family `vgg` to infer the variant.
    #[arg(long)]
    pub teacher: String,
    /// Safetensors weights in the reference implementation's key layout
    /// [default: the teacher's file in the cache, see `repalign fetch`].
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Cache folder to look for fetched weights in (see `repalign fetch --dir`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Preprocessing size: Resize(S, bicubic, antialias) then CenterCrop(S)
    /// [default: the teacher's preset, 224].
    #[arg(long, conflicts_with = "no_resize")]
    pub size: Option<usize>,
    /// Feed images at their own size (normalisation only).
    #[arg(long)]
    pub no_resize: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The student's output (PNG or JPEG), or a folder of them.
    pub output: PathBuf,
    /// The ground truth (PNG or JPEG), or a folder whose files pair with OUTPUT's by name.
    pub target: PathBuf,
    #[command(flatten)]
    pub teacher: TeacherArgs,
    /// Layer weighting: none, exp (the seed's use_weight) or linear.
    #[arg(long, default_value = "none")]
    pub weighting: String,
    /// Features are L2-normalised in groups of this many neighbours.
    #[arg(long, default_value_t = 2)]
    pub group_size: usize,
    /// Print the loss and its per-layer parts as JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw where the distance comes from over the output image, as a PNG.
    #[arg(long, value_name = "FILE.png")]
    pub heatmap: Option<PathBuf>,
    /// Write a per-layer bar chart (weighted contribution, element count) as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Write d(loss)/d(output pixels in [0,1]) as a float32 .npy of shape (1,3,H,W).
    #[arg(long, value_name = "FILE.npy")]
    pub grad_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LayersArgs {
    #[command(flatten)]
    pub teacher: TeacherArgs,
}
