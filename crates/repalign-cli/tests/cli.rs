//! The `repalign` binary end to end: PNG/JPEG in, loss / JSON / gradient .npy out,
//! one-line errors with a non-zero exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::Device;
use repalign::preprocess::{Normalize, Preprocess};
use repalign::teacher;
use repalign::{LossConfig, RepAlignLoss, Weighting, testing};
use repalign_cli::image_io;

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        let ws = Workspace {
            dir: tempfile::tempdir().unwrap(),
        };
        write_weights(&ws.path("vgg11.safetensors"));
        write_image(&ws.path("target.png"), 48, 40, 0);
        write_image(&ws.path("output.png"), 48, 40, 25);
        write_image(&ws.path("output.jpg"), 48, 40, 25);
        write_image(&ws.path("small.png"), 30, 30, 0);
        ws
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary on Flex: a build with a GPU backend would otherwise probe the
    /// machine's drivers at every start, and some print to stderr (Mesa without
    /// `XDG_RUNTIME_DIR`), which the one-line-error checks would read as ours.
    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_repalign"));
        command
            .current_dir(self.dir.path())
            .env("REPALIGN_DEVICE", "flex");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// The binary choosing its device itself, with a runtime folder for the drivers it
    /// probes.
    fn run_on_default_device(&self, args: &[&str]) -> Output {
        self.command()
            .env_remove("REPALIGN_DEVICE")
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }
}

/// The random VGG11 of `repalign::testing`, written as a torchvision-keyed safetensors.
fn write_weights(path: &Path) {
    let store = testing::random_weights("vgg11", 5).unwrap();
    let keys: Vec<String> = store.keys().map(str::to_owned).collect();
    let mut store = store;
    let device = Device::flex();
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = keys
        .into_iter()
        .map(|key| {
            let shape = store.shape(&key).unwrap().to_vec();
            let values: Vec<f32> = match shape.len() {
                1 => store
                    .take::<1>(&key, [shape[0]], &device)
                    .unwrap()
                    .into_data()
                    .try_to_vec()
                    .unwrap(),
                _ => store
                    .take::<4>(&key, [shape[0], shape[1], shape[2], shape[3]], &device)
                    .unwrap()
                    .into_data()
                    .try_to_vec()
                    .unwrap(),
            };
            (key, shape, values.iter().flat_map(|v| v.to_le_bytes()).collect())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(key, shape, bytes)| {
            (
                key.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// A smooth colour pattern, shifted by `offset` so that two images differ.
fn write_image(path: &Path, width: u32, height: u32, offset: u32) {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            ((x * 5 + offset) % 256) as u8,
            ((y * 6) % 256) as u8,
            ((x * y + offset) % 256) as u8,
        ])
    });
    image.save(path).unwrap();
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr}");
    stderr
}

const TEACHER: [&str; 4] = ["--teacher", "vgg11", "--weights", "vgg11.safetensors"];

#[test]
fn compare_prints_the_loss_of_the_library() {
    let ws = Workspace::new();
    let args = [
        &["compare", "output.png", "target.png"][..],
        &TEACHER,
        &["--size", "32", "--weighting", "exp"],
    ]
    .concat();
    let printed: f64 = stdout(&ws.run(&args)).trim().parse().unwrap();

    // The same computation through the library on the same decoded pixels.
    let device = Device::flex();
    let teacher = teacher::load("vgg11", testing::random_weights("vgg11", 5).unwrap(), &device).unwrap();
    let loss = RepAlignLoss::new(teacher, LossConfig::default().with_weighting(Weighting::Exp))
        .with_preprocess(Preprocess::resize_crop_normalize(32, Normalize::IMAGENET));
    let load = |name: &str| {
        let rgb = image::open(ws.path(name)).unwrap().to_rgb32f();
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let raw = rgb.into_raw();
        let planar: Vec<f32> = (0..3)
            .flat_map(|c| raw.iter().skip(c).step_by(3).copied().collect::<Vec<_>>())
            .collect();
        burn::tensor::Tensor::<4>::from_data(burn::tensor::TensorData::new(planar, [1, 3, h, w]), &device)
    };
    let expected = loss
        .loss_for(&load("output.png"), &load("target.png"))
        .unwrap()
        .value()
        .unwrap();
    assert!(printed > 0.0);
    assert!(
        (printed - expected).abs() <= 1e-12 * expected.abs().max(1.0),
        "{printed} vs {expected}"
    );
}

#[test]
fn identical_files_give_zero_and_jpeg_works() {
    let ws = Workspace::new();
    let args = [
        &["compare", "target.png", "target.png"][..],
        &TEACHER,
        &["--no-resize"],
    ]
    .concat();
    assert_eq!(stdout(&ws.run(&args)).trim(), "0");
    let args = [
        &["compare", "output.jpg", "target.png"][..],
        &TEACHER,
        &["--size", "32"],
    ]
    .concat();
    assert!(stdout(&ws.run(&args)).trim().parse::<f64>().unwrap() > 0.0);
}

#[test]
fn json_lists_every_layer() {
    let ws = Workspace::new();
    let args = [
        &[
            "compare",
            "output.png",
            "target.png",
            "--json",
            "--group-size",
            "3",
        ][..],
        &TEACHER,
        &["--no-resize"],
    ]
    .concat();
    let json: serde_json::Value = serde_json::from_str(&stdout(&ws.run(&args))).unwrap();
    assert_eq!(json["teacher"], "vgg11");
    let layers = json["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 8);
    assert_eq!(layers[0]["name"], "features.0");
    assert_eq!(layers[0]["kind"], "Conv2d");
    assert_eq!(layers[0]["shape"], serde_json::json!([1, 64, 40, 48]));
    // 40*48 = 1920 positions, padded to 1920 (divisible by 3), times 64 channels.
    assert_eq!(layers[0]["elements"], 64 * 1920);
    let total: f64 = layers
        .iter()
        .map(|l| l["sum"].as_f64().unwrap() * l["weight"].as_f64().unwrap())
        .sum();
    let elements: f64 = layers.iter().map(|l| l["elements"].as_f64().unwrap()).sum();
    let loss = json["loss"].as_f64().unwrap();
    assert!(
        (total / elements - loss).abs() <= 1e-6 * loss,
        "{} vs {loss}",
        total / elements
    );
}

#[test]
fn grad_out_writes_an_npy_of_the_output_shape() {
    let ws = Workspace::new();
    let args = [
        &["compare", "output.png", "target.png", "--grad-out", "grad.npy"][..],
        &TEACHER,
        &["--size", "32"],
    ]
    .concat();
    stdout(&ws.run(&args));
    let bytes = std::fs::read(ws.path("grad.npy")).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'shape': (1, 3, 40, 48)"), "{header}");
    let values: Vec<f32> = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), 3 * 40 * 48);
    assert!(values.iter().all(|v| v.is_finite()) && values.iter().any(|&v| v != 0.0));
}

#[test]
fn layers_lists_taps() {
    let ws = Workspace::new();
    let args = [&["layers"][..], &TEACHER, &["--size", "64"]].concat();
    let text = stdout(&ws.run(&args));
    assert!(
        text.starts_with("0\tfeatures.0\tConv2d\t(1, 64, 64, 64)\n"),
        "{text}"
    );
    assert!(text.ends_with("total\t8 taps\n"), "{text}");
}

#[test]
fn resize_feeds_the_teacher_that_size_without_a_crop() {
    let ws = Workspace::new();
    let args = [&["layers"][..], &TEACHER, &["--resize", "40x56"]].concat();
    let text = stdout(&ws.run(&args));
    assert!(
        text.starts_with("0\tfeatures.0\tConv2d\t(1, 64, 40, 56)\n"),
        "{text}"
    );

    // The original's current pipeline end to end; the 48x40 images are stretched to
    // 40x56, so the number differs from the preset's.
    let run = |extra: &[&str]| {
        let args = [
            &["compare", "output.png", "target.png"][..],
            &TEACHER,
            &["--normalization", "sample", "--weighting", "linear"],
            extra,
        ]
        .concat();
        stdout(&ws.run(&args)).trim().parse::<f64>().unwrap()
    };
    let (resized, preset) = (run(&["--resize", "40x56"]), run(&[]));
    assert!(
        resized > 0.0 && resized.is_finite() && resized != preset,
        "{resized} {preset}"
    );

    for bad in ["40", "0x56", "40x-1"] {
        let output = ws.run(&[&["layers"][..], &TEACHER, &["--resize", bad]].concat());
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("expected HEIGHTxWIDTH"),
            "{bad}"
        );
    }
    let both = ws.run(&[&["layers"][..], &TEACHER, &["--resize", "40x56", "--size", "32"]].concat());
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
}

#[test]
fn kinds_and_taps_choose_the_layers() {
    let ws = Workspace::new();
    let args = [
        &["layers"][..],
        &TEACHER,
        &[
            "--size",
            "64",
            "--kinds",
            "relu,conv2d",
            "--taps",
            "features.1,features.3*",
        ],
    ]
    .concat();
    let text = stdout(&ws.run(&args));
    let names: Vec<&str> = text
        .lines()
        .map(|line| line.split('\t').nth(1).unwrap())
        .collect();
    // VGG11: conv 0, ReLU 1, pool 2, conv 3, ReLU 4, ...: `features.3*` is conv 3 alone.
    assert_eq!(names, ["features.1", "features.3", "2 taps"], "{text}");
    assert!(
        text.contains("features.1\tReLU") && text.contains("features.3\tConv2d"),
        "{text}"
    );

    // The loss takes the same selection.
    let args = [
        &["compare", "output.png", "target.png", "--json"][..],
        &TEACHER,
        &["--size", "32", "--kinds", "ReLU"],
    ]
    .concat();
    let json: serde_json::Value = serde_json::from_str(&stdout(&ws.run(&args))).unwrap();
    let layers = json["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 8, "VGG11 has 8 ReLUs in features");
    assert!(layers.iter().all(|layer| layer["kind"] == "ReLU"), "{json}");

    for (flags, expected) in [
        (
            &["--kinds", "conv3d"][..],
            "--kinds: unknown layer kind `conv3d` (known: conv2d, linear, relu, gelu, silu, norm)",
        ),
        (
            &["--taps", "classifier.*"][..],
            "no layer of vgg11 matches the tap selection (kinds Conv2d, Linear; names classifier.*)",
        ),
    ] {
        let args = [
            &["compare", "output.png", "target.png"][..],
            &TEACHER,
            &["--size", "32"],
            flags,
        ]
        .concat();
        let stderr = one_line_error(&ws.run(&args));
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
}

#[test]
fn bad_input_ends_in_one_line_naming_the_cause() {
    let ws = Workspace::new();
    std::fs::write(ws.path("garbage.png"), b"not an image").unwrap();
    std::fs::write(
        ws.path("garbage.safetensors"),
        b"\x10\x00\x00\x00\x00\x00\x00\x00{}",
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            [&["compare", "missing.png", "target.png"][..], &TEACHER].concat(),
            "missing.png",
        ),
        (
            [&["compare", "garbage.png", "target.png"][..], &TEACHER].concat(),
            "garbage.png",
        ),
        (
            [
                &["compare", "output.png", "small.png"][..],
                &TEACHER,
                &["--no-resize"],
            ]
            .concat(),
            "40x48",
        ),
        (
            [
                &["compare", "small.png", "small.png"][..],
                &TEACHER,
                &["--size", "16"],
            ]
            .concat(),
            "at least 32 pixels",
        ),
        (
            vec![
                "compare",
                "output.png",
                "target.png",
                "--teacher",
                "vgg16",
                "--weights",
                "vgg11.safetensors",
            ],
            "these are vgg11 weights, not vgg16",
        ),
        (
            vec![
                "compare",
                "output.png",
                "target.png",
                "--teacher",
                "resnet7",
                "--weights",
                "vgg11.safetensors",
            ],
            "unknown teacher `resnet7`",
        ),
        (
            vec![
                "compare",
                "output.png",
                "target.png",
                "--teacher",
                "vgg11",
                "--weights",
                "nope.safetensors",
            ],
            "nope.safetensors",
        ),
        (
            vec![
                "compare",
                "output.png",
                "target.png",
                "--teacher",
                "vgg11",
                "--weights",
                "garbage.safetensors",
            ],
            "garbage.safetensors",
        ),
        (
            [
                &["compare", "output.png", "target.png", "--weighting", "cubic"][..],
                &TEACHER,
            ]
            .concat(),
            "--weighting",
        ),
        (
            [
                &["compare", "output.png", "target.png", "--group-size", "0"][..],
                &TEACHER,
            ]
            .concat(),
            "group size",
        ),
        (
            [
                &["compare", "output.png", "target.png", "--size", "100000"][..],
                &TEACHER,
            ]
            .concat(),
            "more than --max-pixels",
        ),
    ];
    for (args, expected) in cases {
        let stderr = one_line_error(&ws.run(&args));
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn a_features_file_with_a_missing_key_names_it() {
    let ws = Workspace::new();
    // Drop one bias from a valid file: the error names exactly that key.
    let bytes = std::fs::read(ws.path("vgg11.safetensors")).unwrap();
    let parsed = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> = parsed
        .tensors()
        .into_iter()
        .filter(|(key, _)| key != "features.3.bias")
        .collect();
    safetensors::serialize_to_file(kept, None, &ws.path("broken.safetensors")).unwrap();
    let args = [
        "compare",
        "output.png",
        "target.png",
        "--teacher",
        "vgg11",
        "--weights",
        "broken.safetensors",
    ];
    let stderr = one_line_error(&ws.run(&args));
    assert!(
        stderr.contains("broken.safetensors: missing weight `features.3.bias`"),
        "{stderr}"
    );
}

#[test]
fn folder_mode_pairs_by_name_and_reports_what_it_skips() {
    let ws = Workspace::new();
    for dir in ["a", "b"] {
        std::fs::create_dir(ws.path(dir)).unwrap();
    }
    write_image(&ws.path("a/one.png"), 48, 40, 25);
    write_image(&ws.path("b/one.png"), 48, 40, 0);
    write_image(&ws.path("a/same.png"), 48, 40, 3);
    write_image(&ws.path("b/same.png"), 48, 40, 3);
    write_image(&ws.path("a/only_a.png"), 48, 40, 3);
    std::fs::write(ws.path("a/broken.png"), b"not a png").unwrap();
    write_image(&ws.path("b/broken.png"), 48, 40, 3);
    let args = [&["compare", "a", "b"][..], &TEACHER, &["--size", "32"]].concat();
    let output = ws.run(&args);
    assert!(
        !output.status.success(),
        "a skipped file makes the exit code non-zero"
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(
        lines[0].starts_with("one.png\t")
            && lines[0].split('\t').nth(1).unwrap().parse::<f64>().unwrap() > 0.0
    );
    assert_eq!(lines[1], "same.png\t0");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("only_a.png: only in a"), "{stderr}");
    assert!(stderr.contains("broken.png: cannot read image"), "{stderr}");
    assert!(stderr.contains("2 pairs compared, 2 files skipped"), "{stderr}");
    let worst = lines[0].split('\t').nth(1).unwrap();
    assert!(
        stderr.contains(&format!(
            "repalign: 2 pairs: mean {}",
            worst.parse::<f64>().unwrap() / 2.0
        )) && stderr.contains(&format!("worst one.png ({worst})")),
        "the summary line: {stderr}"
    );

    // JSON lines carry the name; all-good folders exit 0.
    std::fs::remove_file(ws.path("a/only_a.png")).unwrap();
    std::fs::remove_file(ws.path("a/broken.png")).unwrap();
    std::fs::remove_file(ws.path("b/broken.png")).unwrap();
    let args = [&["compare", "a", "b", "--json"][..], &TEACHER, &["--size", "32"]].concat();
    let text = stdout(&ws.run(&args));
    let names: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["one.png", "same.png"]);
}

/// The layer names of the test teacher, as `--json` reports them.
fn layer_names(ws: &Workspace) -> Vec<String> {
    let args = [
        &["compare", "output.png", "target.png", "--json"][..],
        &TEACHER,
        &["--size", "32"],
    ]
    .concat();
    let json: serde_json::Value = serde_json::from_str(&stdout(&ws.run(&args))).unwrap();
    json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The bars' fill colour (plot/chart.rs); nothing else is drawn in it as a rectangle.
const BAR_COLOUR: [u8; 3] = [59, 117, 175];

#[test]
fn plot_writes_an_svg_chart_with_layer_names_bars_and_axis_titles() {
    let ws = Workspace::new();
    let args = [
        &["compare", "output.png", "target.png", "--plot", "layers.svg"][..],
        &TEACHER,
        &["--size", "32"],
    ]
    .concat();
    stdout(&ws.run(&args));
    let svg = std::fs::read_to_string(ws.path("layers.svg")).unwrap();
    let document = roxmltree::Document::parse(&svg).unwrap();
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    let texts: Vec<&str> = document
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .filter_map(|node| node.text())
        .map(str::trim)
        .collect();
    let names = layer_names(&ws);
    assert_eq!(names.len(), 8);
    for name in &names {
        assert!(texts.contains(&name.as_str()), "{name} not in {texts:?}");
    }
    for axis in [
        "w_i S_i / Σ N",
        "layer index (tap order)",
        "mean S_i / N_i",
        "elements N_i (log scale)",
    ] {
        assert!(texts.contains(&axis), "{axis} not in {texts:?}");
    }
    let fill = format!("#{:02X}{:02X}{:02X}", BAR_COLOUR[0], BAR_COLOUR[1], BAR_COLOUR[2]);
    let bars = document
        .descendants()
        .filter(|node| node.has_tag_name("rect") && node.attribute("fill") == Some(fill.as_str()))
        .count();
    assert_eq!(bars, names.len());
}

#[test]
fn plot_writes_a_png_chart_when_the_file_is_named_png() {
    let ws = Workspace::new();
    let args = [
        &["compare", "output.png", "target.png", "--plot", "layers.PNG"][..],
        &TEACHER,
        &["--size", "32"],
    ]
    .concat();
    stdout(&ws.run(&args));
    let image = image::open(ws.path("layers.PNG")).unwrap().to_rgb8();
    // Eight layers fit the narrowest chart (plot/chart.rs: MIN_WIDTH x HEIGHT).
    assert_eq!(image.dimensions(), (1100, 900));
    let bar_pixels = image.pixels().filter(|pixel| pixel.0 == BAR_COLOUR).count();
    let dark_pixels = image
        .pixels()
        .filter(|pixel| pixel.0.iter().all(|&channel| channel < 64))
        .count();
    assert!(bar_pixels > 1000, "{bar_pixels} pixels of bars");
    assert!(dark_pixels > 1000, "{dark_pixels} pixels of text and axes");
}

#[test]
fn plot_to_another_extension_is_a_usage_error_before_any_work() {
    let ws = Workspace::new();
    for name in ["layers.jpg", "layers"] {
        let args = [
            &["compare", "output.png", "target.png", "--plot", name][..],
            &TEACHER,
        ]
        .concat();
        let output = ws.run(&args);
        let error = one_line_error(&output);
        assert!(error.contains("--plot writes .svg or .png files"), "{error}");
        assert!(error.contains(name), "{error}");
        assert!(output.stdout.is_empty(), "no loss printed before the error");
        assert!(!ws.path(name).exists());
    }
}

#[test]
fn heatmap_writes_a_png_of_the_teacher_input_size() {
    let ws = Workspace::new();
    let args = [
        &["compare", "output.png", "target.png", "--heatmap", "heat.png"][..],
        &TEACHER,
        &["--size", "32"],
    ]
    .concat();
    let printed = stdout(&ws.run(&args));
    let heat = image::open(ws.path("heat.png")).unwrap().to_rgb8();
    // The 32x32 view drawn a whole number of times its size, the legend under it.
    let (width, height) = heat.dimensions();
    assert!(
        width >= 32 && width % 32 == 0 && height > width,
        "{width}x{height}"
    );
    // The colour bar runs from dark (no contribution) to bright (the peak).
    let bar_row = width + 17;
    let brightness = |x: u32| {
        heat.get_pixel(x, bar_row)
            .0
            .iter()
            .map(|&c| u32::from(c))
            .sum::<u32>()
    };
    assert!(
        brightness(12) < 60 && brightness(width - 11) > 600,
        "{} {}",
        brightness(12),
        brightness(width - 11)
    );
    assert!(printed.trim().parse::<f64>().unwrap() > 0.0);
}

#[test]
fn folder_batches_give_each_pair_its_own_loss() {
    let ws = Workspace::new();
    for dir in ["a", "b"] {
        std::fs::create_dir(ws.path(dir)).unwrap();
    }
    // Three pairs of one size, one of another: batches of 2 split them 2 + 1 + 1.
    for (name, width, offset) in [
        ("p1.png", 48, 10),
        ("p2.png", 48, 30),
        ("p3.png", 48, 50),
        ("p4.png", 56, 20),
    ] {
        write_image(&ws.path(&format!("a/{name}")), width, 40, offset);
        write_image(&ws.path(&format!("b/{name}")), width, 40, 0);
    }
    let batched = stdout(
        &ws.run(
            &[
                &["compare", "a", "b", "--batch", "2"][..],
                &TEACHER,
                &["--size", "32"],
            ]
            .concat(),
        ),
    );
    let lines: Vec<&str> = batched.lines().collect();
    assert_eq!(lines.len(), 4, "{batched}");
    for line in lines {
        let (name, value) = line.split_once('\t').unwrap();
        let batched: f64 = value.parse().unwrap();
        let (a, b) = (format!("a/{name}"), format!("b/{name}"));
        let single_args = [
            &["compare", a.as_str(), b.as_str()][..],
            &TEACHER,
            &["--size", "32"],
        ]
        .concat();
        let single: f64 = stdout(&ws.run(&single_args)).trim().parse().unwrap();
        assert!(
            batched > 0.0 && (batched - single).abs() <= 1e-5 * single,
            "{name}: {batched} vs {single}"
        );
    }
}

#[test]
fn too_many_pixels_is_refused_before_decoding() {
    let ws = Workspace::new();
    let args = [
        &["compare", "output.png", "target.png", "--max-pixels", "1000"][..],
        &TEACHER,
    ]
    .concat();
    let stderr = one_line_error(&ws.run(&args));
    assert!(
        stderr.contains("output.png") && stderr.contains("more than --max-pixels 1000"),
        "{stderr}"
    );
}

/// Extreme shapes through the default preset (resize the shorter side to 224, crop
/// 224x224) and without resizing: each ends in a loss or a one-line error, and the
/// process's peak memory, read by `wait4`, stays under a stated ceiling. Resizing a
/// 2x5000 image whole would take tens of gigabytes (224x560000 pixels and a
/// 560000x5000 resampling matrix); the crop is computed as it is resized.
#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn extreme_shapes_end_in_a_result_or_an_error_within_bounded_memory() {
    /// VGG11 at 224x224, batch 1, with its weights and both images (measured: 170-280
    /// MB in a debug build): a ceiling that any whole-image resize of these shapes breaks.
    const CEILING: u64 = 1 << 30;
    let ws = Workspace::new();
    // The largest image the flag allows goes through the preset only: without resizing,
    // the teacher's activations grow with the image (VGG11 on 2000x2000 peaks at ~8 GB).
    let cases: [(u32, u32, &[&str]); 10] = [
        (5000, 2, &[]),
        (2, 5000, &[]),
        (4000, 1, &[]),
        (1, 4000, &[]),
        (1, 1, &[]),
        (2000, 2000, &[]),
        (5000, 2, &["--no-resize"]),
        (2, 5000, &["--no-resize"]),
        (1, 1, &["--no-resize"]),
        (300, 200, &["--no-resize"]),
    ];
    for (width, height, extra) in cases {
        write_image(&ws.path("extreme.png"), width, height, 0);
        let args = [
            &["compare", "extreme.png", "extreme.png", "--max-pixels", "4000000"][..],
            &TEACHER,
            extra,
        ]
        .concat();
        let (status, stderr, peak) = ws.run_measured(&args);
        let case = format!("{width}x{height} {extra:?}");
        eprintln!("{case}: status {status}, peak RSS {} MB", peak >> 20);
        assert!(peak <= CEILING, "{case}: peak RSS {peak} bytes");
        // Exited (no signal: not killed for memory); a failure says why in one line.
        assert!(libc::WIFEXITED(status), "{case}: status {status}");
        if libc::WEXITSTATUS(status) != 0 {
            assert_eq!(stderr.trim_end().lines().count(), 1, "{case}: {stderr}");
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl Workspace {
    /// Runs the binary: its raw wait status, stderr, and peak resident memory in bytes.
    // The child is reaped by `wait4`, which std's `wait` does not offer (it drops the
    // child's resource usage).
    #[allow(clippy::zombie_processes)]
    fn run_measured(&self, args: &[&str]) -> (i32, String, u64) {
        use std::io::Read;
        let mut child = self
            .command()
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: `rusage` is plain data that wait4 fills; the pid is our own child, not
        // yet waited for (std's `Child` is dropped without waiting).
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
        // Linux reports ru_maxrss in kibibytes.
        (status, stderr, usage.ru_maxrss as u64 * 1024)
    }
}

/// `train --optimizer` is adamw or wngradw; anything else is refused before any work,
/// naming both.
#[test]
fn train_refuses_an_unknown_optimizer_naming_the_known_ones() {
    let ws = Workspace::new();
    let output = ws.run(&["train", "--optimizer", "sgd"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[possible values: adamw, wngradw]"), "{stderr}");
}

#[test]
fn mask_and_normalization_reach_the_library() {
    let ws = Workspace::new();
    // White on the left two thirds, a grey ramp on the right.
    let mask = image::GrayImage::from_fn(48, 40, |x, _| {
        image::Luma([if x < 32 { 255 } else { (x * 5) as u8 }])
    });
    mask.save(ws.path("mask.png")).unwrap();
    image::GrayImage::from_pixel(48, 40, image::Luma([255]))
        .save(ws.path("white.png"))
        .unwrap();
    image::GrayImage::from_pixel(48, 40, image::Luma([0]))
        .save(ws.path("black.png"))
        .unwrap();
    image::GrayImage::from_pixel(40, 40, image::Luma([255]))
        .save(ws.path("small_mask.png"))
        .unwrap();
    let run = |extra: &[&str]| {
        let args = [
            &["compare", "output.png", "target.png"][..],
            &TEACHER,
            &["--size", "32"],
            extra,
        ]
        .concat();
        ws.run(&args)
    };
    let value = |extra: &[&str]| -> f64 { stdout(&run(extra)).trim().parse().unwrap() };

    // The library's numbers on the same pixels.
    let device = Device::flex();
    let teacher = teacher::load("vgg11", testing::random_weights("vgg11", 5).unwrap(), &device).unwrap();
    let config = LossConfig::default()
        .with_normalization(repalign::Normalization::Sample)
        .unwrap();
    let loss = RepAlignLoss::new(teacher, config)
        .with_preprocess(Preprocess::resize_crop_normalize(32, Normalize::IMAGENET));
    let load = |name: &str| image_io::load(&ws.path(name), u64::MAX, &device).unwrap();
    let target = loss.target_features(&load("target.png")).unwrap();
    let mask = image_io::load_mask(&ws.path("mask.png"), u64::MAX, &device).unwrap();
    let expected = loss
        .loss_against_masked(&load("output.png"), &target, &mask)
        .unwrap()
        .value()
        .unwrap();
    let printed = value(&["--normalization", "sample", "--mask", "mask.png"]);
    assert!(
        (printed - expected).abs() <= 1e-12 * expected.abs(),
        "{printed} vs {expected}"
    );

    // A white mask is no mask, grey or RGB (whose luma is 1 + 1 ulp in f32 before the
    // reader clamps it); a partial one changes the loss.
    image::RgbImage::from_pixel(48, 40, image::Rgb([255; 3]))
        .save(ws.path("white_rgb.png"))
        .unwrap();
    assert_eq!(value(&["--mask", "white.png"]), value(&[]));
    assert_eq!(value(&["--mask", "white_rgb.png"]), value(&[]));
    assert_ne!(value(&["--mask", "mask.png"]), value(&[]));
    assert_ne!(value(&["--normalization", "sample"]), value(&[]));

    for (extra, cause) in [
        (&["--mask", "black.png"][..], "zero everywhere"),
        (
            &["--mask", "small_mask.png"][..],
            "mask: expected (B, 1, H, W) = (1, 1, 40, 48)",
        ),
        (&["--mask", "missing.png"][..], "missing.png"),
    ] {
        let error = one_line_error(&run(extra));
        assert!(error.contains(cause), "{extra:?}: {error}");
    }
    let unknown = run(&["--normalization", "layer"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("[possible values: groups, sample]"));
    let with_heatmap = run(&["--mask", "mask.png", "--heatmap", "heat.png"]);
    assert!(String::from_utf8_lossy(&with_heatmap.stderr).contains("cannot be used with"));
    assert!(!ws.path("heat.png").exists());
    let folders = ws.run(&[&["compare", ".", "."][..], &TEACHER, &["--mask", "mask.png"]].concat());
    assert!(one_line_error(&folders).contains("--mask takes one pair of files"));
}

#[test]
fn the_device_is_chosen_at_run_time_among_the_backends_built_in() {
    let ws = Workspace::new();
    let listing = stdout(&ws.run_on_default_device(&["devices"]));
    assert_eq!(listing.lines().count(), 4, "{listing}");
    assert_eq!(listing.matches("(default)").count(), 1, "{listing}");
    let compare = [&["compare", "output.png", "target.png"][..], &TEACHER].concat();
    let default = stdout(&ws.run_on_default_device(&compare));
    let on_flex = stdout(&ws.run(&[&["--device", "flex"][..], &compare].concat()));
    assert_eq!(default, on_flex);
    for line in listing.lines().filter(|l| l.contains("not in this build")) {
        let backend = line.split_whitespace().next().unwrap();
        let error = one_line_error(&ws.run(&[&["--device", backend][..], &compare].concat()));
        assert!(error.contains(&format!("--features {backend}")), "{error}");
    }
    let output = ws
        .command()
        .env("REPALIGN_DEVICE", "metal")
        .args(&compare)
        .output()
        .unwrap();
    let error = one_line_error(&output);
    assert!(error.contains("unknown backend `metal`"), "{error}");
}

#[test]
fn half_precision_compares_and_refuses_to_train_where_its_gradient_is_unusable() {
    let ws = Workspace::new();
    let compare = [&["compare", "output.png", "target.png"][..], &TEACHER].concat();
    let f32_loss: f64 = stdout(&ws.run(&compare)).trim().parse().unwrap();
    for precision in ["bf16", "f16"] {
        let half: f64 = stdout(&ws.run(&[&compare[..], &["--precision", precision]].concat()))
            .trim()
            .parse()
            .unwrap();
        assert!(
            (half - f32_loss).abs() <= 0.05 * f32_loss,
            "{precision}: {half} vs {f32_loss}"
        );
    }
    for (args, cause) in [
        (&["--precision", "f16"][..], "--precision f16 cannot train"),
        (&["--precision", "bf16"][..], "--normalization sample"),
    ] {
        let error = one_line_error(&ws.run(&[&["train", "--out", "t"][..], args].concat()));
        assert!(error.contains(cause), "{error}");
    }
}

#[test]
fn compare_metric_scores_files_and_folders_with_the_library_judges() {
    let ws = Workspace::new();
    let device = Device::flex();
    let load = |name: &str| image_io::load(&ws.path(name), u64::MAX, &device).unwrap();
    for (metric, judge) in [
        ("ssim", repalign::judge::Metric::Ssim),
        ("psnr", repalign::judge::Metric::Psnr),
    ] {
        let judge = repalign::judge::Judge::plain(judge).unwrap();
        let expected = judge
            .score(&load("output.png"), &load("target.png"))
            .unwrap()
            .into_scalar::<f32>();
        let printed: f32 = stdout(&ws.run(&["compare", "output.png", "target.png", "--metric", metric]))
            .trim()
            .parse()
            .unwrap();
        assert_eq!(printed, expected, "{metric}");
        let json: serde_json::Value = serde_json::from_str(&stdout(&ws.run(&[
            "compare",
            "output.png",
            "target.png",
            "--metric",
            metric,
            "--json",
            "--no-resize",
        ])))
        .unwrap();
        assert_eq!(json["metric"], metric);
        assert_eq!(json["value"].as_f64().unwrap() as f32, expected);
    }
    // The default metric says so in JSON too.
    let json: serde_json::Value = serde_json::from_str(&stdout(
        &ws.run(
            &[
                &["compare", "output.png", "target.png", "--json", "--size", "32"][..],
                &TEACHER,
            ]
            .concat(),
        ),
    ))
    .unwrap();
    assert_eq!(json["metric"], "repalign");

    // Folders: one line per pair, batched by size; identical images score 1.
    for dir in ["a", "b"] {
        std::fs::create_dir(ws.path(dir)).unwrap();
    }
    write_image(&ws.path("a/one.png"), 48, 40, 25);
    write_image(&ws.path("b/one.png"), 48, 40, 0);
    write_image(&ws.path("a/same.png"), 48, 40, 3);
    write_image(&ws.path("b/same.png"), 48, 40, 3);
    write_image(&ws.path("a/wide.png"), 64, 40, 3);
    write_image(&ws.path("b/wide.png"), 48, 40, 3);
    let output = ws.run(&["compare", "a", "b", "--metric", "ssim"]);
    let printed = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    let one: f32 = lines[0].strip_prefix("one.png\t").unwrap().parse().unwrap();
    assert!(one < 1.0 && one > -1.0, "{one}");
    assert_eq!(lines[1], "same.png\t1");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(
            "wide.png: output is 40x64 and target 40x48 pixels; ssim compares images of the same size"
        ),
        "{stderr}"
    );
}

#[test]
fn compare_metric_refuses_what_a_judge_cannot_do_in_one_line() {
    let ws = Workspace::new();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "compare",
                "output.png",
                "target.png",
                "--metric",
                "ssim",
                "--teacher",
                "vgg11",
            ],
            "--teacher is for --metric repalign",
        ),
        (
            &[
                "compare",
                "output.png",
                "target.png",
                "--metric",
                "psnr",
                "--mask",
                "target.png",
            ],
            "--mask is for --metric repalign",
        ),
        (
            &["compare", "output.png", "small.png", "--metric", "ssim"],
            "output is 40x48 and target 30x30 pixels",
        ),
        (
            &[
                "compare",
                "output.png",
                "target.png",
                "--metric",
                "lpips-alex",
                "--cache-dir",
                ".",
            ],
            "lpips-alex needs `alexnet` weights",
        ),
        (
            &["compare", "output.png", "target.png"],
            "--teacher NAME is required",
        ),
    ];
    for (args, expected) in cases {
        let error = one_line_error(&ws.run(args));
        assert!(error.contains(expected), "{args:?}: {error}");
    }
}
