//! The loss with real pretrained teachers on real photos (`repalign fetch`).
//!
//! These need the fetched cache, so they are `#[ignore]`d by default and say why;
//! `.ci/run` fetches the weights and runs them with `--include-ignored`. Run locally:
//!
//! ```text
//! cargo run -p repalign-cli -- fetch vgg16 vgg19_caffe alexnet mobilenet_v2 efficientnet_lite0 lpips dists photos
//! cargo test -p repalign-cli -- --include-ignored real_weights::
//! ```

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use repalign::{LossConfig, RepAlignLoss, WeightStore, teacher};

const NEEDS_CACHE: &str = "needs fetched weights and photos: `repalign fetch` (see the file's docs)";

/// The cache `repalign fetch` fills, as the CLI resolves it.
fn cache() -> PathBuf {
    repalign_fetch::cache_dir(None).expect("a cache folder (set REPALIGN_CACHE or HOME)")
}

fn require(path: PathBuf) -> PathBuf {
    assert!(path.exists(), "{} is missing: {NEEDS_CACHE}", path.display());
    path
}

fn load_teacher(name: &str) -> RepAlignLoss {
    let path = require(cache().join("weights").join(format!("{name}.safetensors")));
    let teacher = teacher::load(name, WeightStore::from_file(path).unwrap(), &Device::flex()).unwrap();
    RepAlignLoss::new(teacher, LossConfig::default())
}

/// A photo as `(1, 3, H, W)` in [0, 1], center-cropped to at most 256x256 to keep the
/// test quick.
fn photo(name: &str) -> Vec<f32> {
    let image = image::open(require(cache().join("photos").join(name)))
        .unwrap()
        .to_rgb32f();
    let (w, h) = (image.width().min(256), image.height().min(256));
    let (x0, y0) = ((image.width() - w) / 2, (image.height() - h) / 2);
    let mut planar = vec![0.0f32; 3 * (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            let pixel = image.get_pixel(x0 + x, y0 + y);
            for c in 0..3 {
                planar[(c * h * w + y * w + x) as usize] = pixel[c as usize];
            }
        }
    }
    planar.push(w as f32);
    planar.push(h as f32);
    planar
}

fn tensor(mut planar: Vec<f32>) -> Tensor<4> {
    let h = planar.pop().unwrap() as usize;
    let w = planar.pop().unwrap() as usize;
    Tensor::from_data(TensorData::new(planar, [1, 3, h, w]), &Device::flex())
}

/// Deterministic Gaussian noise (Box–Muller over SplitMix64), clamped to [0, 1].
fn noisy(planar: &[f32], sigma: f32, seed: u64) -> Vec<f32> {
    let mut rng = repalign::testing::SplitMix64::new(seed);
    let n = planar.len() - 2;
    let mut out: Vec<f32> = planar[..n]
        .iter()
        .map(|&v| {
            let u1 = (rng.next_signed() * 0.5 + 0.5).max(1e-7);
            let u2 = rng.next_signed() * 0.5 + 0.5;
            let z = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
            (v + sigma * z).clamp(0.0, 1.0)
        })
        .collect();
    out.extend_from_slice(&planar[n..]);
    out
}

/// Separable box blur of radius `r` (edges clamped).
fn blurred(planar: &[f32], r: usize) -> Vec<f32> {
    let n = planar.len() - 2;
    let (w, h) = (planar[n] as usize, planar[n + 1] as usize);
    let mut out = planar.to_vec();
    for c in 0..3 {
        let plane = &planar[c * h * w..(c + 1) * h * w];
        let mut horizontal = vec![0.0f32; h * w];
        for y in 0..h {
            for x in 0..w {
                let (a, b) = (x.saturating_sub(r), (x + r).min(w - 1));
                horizontal[y * w + x] = plane[y * w + a..=y * w + b].iter().sum::<f32>() / (b - a + 1) as f32;
            }
        }
        for y in 0..h {
            for x in 0..w {
                let (a, b) = (y.saturating_sub(r), (y + r).min(h - 1));
                let sum: f32 = (a..=b).map(|yy| horizontal[yy * w + x]).sum();
                out[c * h * w + y * w + x] = sum / (b - a + 1) as f32;
            }
        }
    }
    out
}

const PHOTOS: [&str; 4] = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"];

fn assert_grows(teacher: &str) {
    let loss = load_teacher(teacher);
    for name in PHOTOS {
        let clean = photo(name);
        let target = loss.target_features(&tensor(clean.clone())).unwrap();
        let distance = |image: Vec<f32>| {
            loss.loss(&loss.target_features(&tensor(image)).unwrap(), &target)
                .unwrap()
                .value()
                .unwrap()
        };
        assert_eq!(distance(clean.clone()), 0.0, "{teacher} {name}: identical photo");
        let by_noise: Vec<f64> = [0.02, 0.05, 0.1, 0.2]
            .iter()
            .map(|&s| distance(noisy(&clean, s, 9)))
            .collect();
        assert!(
            by_noise.windows(2).all(|p| p[1] > p[0]),
            "{teacher} {name}: noise {by_noise:?}"
        );
        let by_blur: Vec<f64> = [1, 2, 4, 8]
            .iter()
            .map(|&r| distance(blurred(&clean, r)))
            .collect();
        assert!(
            by_blur.windows(2).all(|p| p[1] > p[0]),
            "{teacher} {name}: blur {by_blur:?}"
        );
        eprintln!("{teacher} {name}: noise {by_noise:.4?} blur {by_blur:.4?}");
    }
}

#[test]
#[ignore = "needs fetched weights and photos: `repalign fetch` (see the file's docs)"]
fn vgg16_loss_grows_with_noise_and_blur() {
    assert_grows("vgg16");
}

#[test]
#[ignore = "needs fetched weights and photos: `repalign fetch` (see the file's docs)"]
fn vgg19_caffe_loss_grows_with_noise_and_blur() {
    assert_grows("vgg19_caffe");
}

#[test]
#[ignore = "needs fetched weights and photos: `repalign fetch` (see the file's docs)"]
fn alexnet_loss_grows_with_noise_and_blur() {
    assert_grows("alexnet");
}

/// The top-1 ImageNet class from the teacher's last Linear tap (the logits), with the
/// teacher's own preset preprocessing.
fn top1(teacher_name: &str, logits_tap: &str, photo_name: &str) -> usize {
    let path = require(
        cache()
            .join("weights")
            .join(format!("{teacher_name}.safetensors")),
    );
    let teacher = teacher::load(
        teacher_name,
        WeightStore::from_file(path).unwrap(),
        &Device::flex(),
    )
    .unwrap();
    let loss = RepAlignLoss::new(teacher, LossConfig::default())
        .with_selector(repalign::TapSelector::default().with_name_patterns([logits_tap]));
    let path = require(cache().join("photos").join(photo_name));
    let image =
        repalign_cli::image_io::load(&path, repalign_cli::image_io::DEFAULT_MAX_PIXELS, &Device::flex())
            .unwrap();
    let features = loss.target_features(&image).unwrap();
    let logits: Vec<f32> = features.taps()[0].value.clone().into_data().try_to_vec().unwrap();
    assert_eq!(
        logits.len(),
        1000,
        "{teacher_name}: {logits_tap} is not the 1000-class logits"
    );
    (0..logits.len())
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap()
}

/// ImageNet indices: 967 espresso, 285 Egyptian cat. `rocket.jpg` is left out: with
/// the preset (Resize 224 bicubic, CenterCrop 224) torchvision's own MobileNetV2 on
/// these weights says 682 (obelisk), as we do, not 812 (space shuttle).
const EXPECTED_CLASSES: [(&str, usize); 2] = [("coffee.png", 967), ("chelsea.png", 285)];

#[test]
#[ignore = "needs fetched weights and photos: `repalign fetch` (see the file's docs)"]
fn mobilenet_v2_classifies_the_photos() {
    for (photo_name, class) in EXPECTED_CLASSES {
        assert_eq!(
            top1("mobilenet_v2", "classifier.1", photo_name),
            class,
            "{photo_name}"
        );
    }
}

#[test]
#[ignore = "needs fetched weights and photos: `repalign fetch` (see the file's docs)"]
fn efficientnet_lite0_classifies_the_photos() {
    for (photo_name, class) in EXPECTED_CLASSES {
        assert_eq!(
            top1("efficientnet_lite0", "_fc", photo_name),
            class,
            "{photo_name}"
        );
    }
}

/// `repalign train --optimizer wngradw`: both runs step with the original's optimizer and
/// their losses stay finite (the run fails otherwise).
#[test]
#[ignore = "needs fetched weights and photos: `repalign fetch` (see the file's docs)"]
fn train_with_wngradw_runs_both_students() {
    require(cache().join("weights").join("vgg16.safetensors"));
    let out = tempfile::tempdir().unwrap();
    let output = flex_binary()
        .args(["train", "--optimizer", "wngradw", "--steps", "3"])
        .args(["--patches-per-photo", "1", "--judges", "", "--cache-dir"])
        .arg(cache())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for run in ["run0", "run1"] {
        let losses = std::fs::read_to_string(out.path().join(run).join("losses.csv")).unwrap();
        assert_eq!(losses.lines().count(), 4, "{run}: {losses}");
    }
}

/// `repalign train` end to end on a tiny budget: both runs, checkpoints, images, the
/// loss curves and the table with a row per method and a column per judge.
#[test]
#[ignore = "needs fetched weights and photos: `repalign fetch` (see the file's docs)"]
fn train_writes_images_curves_checkpoints_and_the_table() {
    for name in ["vgg16", "efficientnet_lite0", "mobilenet_v2"] {
        require(cache().join("weights").join(format!("{name}.safetensors")));
    }
    let out = tempfile::tempdir().unwrap();
    let output = flex_binary()
        .args([
            "train",
            "--steps",
            "4",
            "--patches-per-photo",
            "1",
            "--checkpoint-every",
            "2",
            "--cache-dir",
        ])
        .arg(cache())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let table = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| method"))
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    for (row, method) in rows.iter().zip(["bicubic", "L1", "RepAlign(vgg16)"]) {
        let cells: Vec<&str> = row.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(cells[0], method, "{table}");
        assert_eq!(cells.len(), 5, "PSNR and three teachers: {table}");
        let psnr: f64 = cells[1].parse().unwrap();
        assert!(psnr > 20.0 && psnr < 60.0, "{table}");
    }
    for file in [
        "coffee_compare.png",
        "chelsea_detail.png",
        "loss_curves.svg",
        "results.md",
        "run0/student-step00002.safetensors",
        "run1/student-step00004.safetensors",
        "run1/losses.csv",
    ] {
        assert!(out.path().join(file).is_file(), "{file} missing; {stderr}");
    }
    // One crop per photo, 16 drawn: every crop is computed once, the rest are hits.
    let stats = stderr
        .lines()
        .find(|l| l.starts_with("target cache:"))
        .unwrap_or_default();
    let number = |word: &str| -> u64 {
        let words: Vec<&str> = stats.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let at = words.iter().position(|w| *w == word).unwrap();
        words[at - 1].parse().unwrap()
    };
    assert!(
        number("misses") >= 10 && number("misses") + number("hits") == 16,
        "{stats}"
    );
}

/// The loss and, with `grad`, its input gradient of `repalign compare` on the README's
/// pair, as `scripts/precision.sh` runs it.
fn compare_pair(
    teacher: &str,
    normalization: &str,
    precision: &str,
    grad: Option<&std::path::Path>,
) -> (f64, Vec<f32>) {
    let photos = cache().join("photos");
    let mut command = flex_binary();
    command
        .arg("compare")
        .arg(require(photos.join("motorcycle_left.png")))
        .arg(require(photos.join("motorcycle_right.png")))
        .args([
            "--teacher",
            teacher,
            "--normalization",
            normalization,
            "--precision",
            precision,
        ])
        .arg("--cache-dir")
        .arg(cache());
    if let Some(path) = grad {
        command.arg("--grad-out").arg(path);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{teacher} {precision}: {stderr}");
    let value = String::from_utf8_lossy(&output.stdout).trim().parse().unwrap();
    let gradient = grad.map_or_else(Vec::new, |path| {
        let bytes = std::fs::read(path).unwrap();
        let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        bytes[10 + header..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    });
    (value, gradient)
}

/// Half-precision teachers against f32 on real weights (docs/guide/backends.md's table, measured by
/// `scripts/precision.sh`): the loss value within twice the worst relative error
/// measured there (bf16 2.5e-3, f16 6.5e-3), and bf16's gradient with whole-sample
/// normalisation (the one setting that trains in half precision) at a cosine of at least
/// 0.7 to f32's (worst measured 0.76).
#[test]
#[ignore = "needs fetched weights and photos: `repalign fetch` (see the file's docs)"]
fn half_precision_teachers_stay_within_their_measured_bounds_on_real_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (f32_grad, bf16_grad) = (dir.path().join("f32.npy"), dir.path().join("bf16.npy"));
    for teacher in ["vgg16", "alexnet", "mobilenet_v2", "efficientnet_lite0"] {
        for normalization in ["groups", "sample"] {
            let (value, want) = compare_pair(teacher, normalization, "f32", Some(&f32_grad));
            let (bf16, got) = compare_pair(teacher, normalization, "bf16", Some(&bf16_grad));
            let (f16, _) = compare_pair(teacher, normalization, "f16", None);
            let relative = |v: f64| (v - value).abs() / value.abs();
            eprintln!(
                "{teacher} {normalization}: f32 {value:.7e}, bf16 {bf16:.7e} ({:.1e}), f16 {f16:.7e} ({:.1e})",
                relative(bf16),
                relative(f16)
            );
            assert!(
                relative(bf16) <= 5e-3,
                "{teacher} {normalization}: bf16 {bf16} vs {value}"
            );
            assert!(
                relative(f16) <= 1.3e-2,
                "{teacher} {normalization}: f16 {f16} vs {value}"
            );
            if normalization == "sample" {
                let dot: f64 = want
                    .iter()
                    .zip(&got)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum();
                let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
                let cosine = dot / (norm(&want) * norm(&got));
                eprintln!("{teacher} sample: bf16 gradient cosine {cosine:.4}");
                assert!(cosine >= 0.7, "{teacher}: bf16 gradient cosine {cosine}");
            }
        }
    }
}

/// `repalign study --quick`: every method trains, the table has a row per method (and
/// bicubic) and a column per judge, the judge a method trained on is marked, and each
/// test photo gets its picture grid.
#[test]
#[ignore = "needs fetched weights and photos: `repalign fetch` (see the file's docs)"]
fn study_quick_trains_every_method_and_writes_the_table_and_grids() {
    for name in [
        "vgg16",
        "alexnet",
        "lpips_alex",
        "lpips_vgg",
        "dists",
        "efficientnet_lite0",
        "mobilenet_v2",
    ] {
        require(cache().join("weights").join(format!("{name}.safetensors")));
    }
    let out = tempfile::tempdir().unwrap();
    let output = flex_binary()
        .args(["study", "--quick", "--cache-dir"])
        .arg(cache())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let table = std::fs::read_to_string(out.path().join("results.md")).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| method"))
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.split('|').nth(1).unwrap().trim()).collect();
    assert_eq!(
        names,
        [
            "bicubic",
            "l1",
            "l1+repalign (λ 1)",
            "l1+repalign-sample (λ 0.1)",
            "l1+lpips-vgg (λ 1)",
            "repalign"
        ],
        "{table}"
    );
    for row in &rows {
        // method, then five judges and two teachers, each a finite number
        let cells: Vec<&str> = row.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(cells.len(), 8, "{row}");
        for cell in &cells[1..] {
            let value: f64 = cell.trim_end_matches(" †").parse().unwrap_or(f64::NAN);
            assert!(value.is_finite(), "{row}");
        }
    }
    assert!(
        rows[4].contains('†') && rows.iter().filter(|r| r.contains('†')).count() == 1,
        "{table}"
    );
    for photo in ["coffee", "chelsea", "rocket"] {
        let grid = image::open(out.path().join(format!("{photo}_grid.png"))).unwrap();
        // bicubic, five methods, ground truth: 7 panels of 64 px drawn at 128 and 6 gaps
        // of 6, captions (method, PSNR, LPIPS) under them on white.
        let grid = grid.to_rgb8();
        assert_eq!(grid.width(), 7 * 128 + 6 * 6, "{photo}");
        assert!(grid.height() > 128 + 3 * 15, "{photo}: {}", grid.height());
        let caption_ink = (128..grid.height())
            .flat_map(|y| (0..128).map(move |x| (x, y)))
            .filter(|&(x, y)| grid.get_pixel(x, y).0.iter().all(|&c| c < 128))
            .count();
        assert!(caption_ink > 50, "{photo}: no caption under the first panel");
    }
    // Unknown methods and missing λ are one-line usage errors.
    let output = flex_binary()
        .args(["study", "--quick", "--methods", "l1,l2", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("unknown method `l2`"),
        "{stderr}"
    );
}

/// The binary, on Flex whatever else the build has (a GPU backend's driver probe may
/// print to stderr, which the one-line-error checks would read as ours).
fn flex_binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_repalign"));
    command.env("REPALIGN_DEVICE", "flex");
    command
}
