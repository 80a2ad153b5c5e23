//! Structure, inference and error tests on tiny DINOv2 weight files (width 64, one
//! head, a 3x3 position grid). The numbers are checked by the golden tests.

use burn::tensor::{Device, Tensor, TensorData};

use super::*;
use crate::taps::{LayerKind, TapSelector, Taps};
use crate::teacher;
use crate::teacher::registry::Family;

const DIM: usize = 64;
const GRID: usize = 3;
const HF4: Layout = Layout::HuggingFace(HfNaming::Transformers4);
const HF5: Layout = Layout::HuggingFace(HfNaming::Transformers5);

/// Every key of a one-or-two-block DINOv2 in `layout`, with small constant values.
fn tiny(layout: Layout, depth: usize, registers: usize, swiglu: bool) -> Vec<(String, Vec<usize>)> {
    let key = |hub: &str, hf: &str| layout.key(hub, hf);
    let mut keys = vec![
        (key("cls_token", "embeddings.cls_token"), vec![1, 1, DIM]),
        (key("mask_token", "embeddings.mask_token"), vec![1, DIM]),
        (
            key("pos_embed", "embeddings.position_embeddings"),
            vec![1, 1 + GRID * GRID, DIM],
        ),
        (
            key(
                "patch_embed.proj.weight",
                "embeddings.patch_embeddings.projection.weight",
            ),
            vec![DIM, 3, PATCH, PATCH],
        ),
        (
            key(
                "patch_embed.proj.bias",
                "embeddings.patch_embeddings.projection.bias",
            ),
            vec![DIM],
        ),
        (key("norm.weight", "layernorm.weight"), vec![DIM]),
        (key("norm.bias", "layernorm.bias"), vec![DIM]),
    ];
    if registers > 0 {
        keys.push((
            key("register_tokens", "embeddings.register_tokens"),
            vec![1, registers, DIM],
        ));
    }
    let linear = |keys: &mut Vec<(String, Vec<usize>)>, path: String, inputs: usize, out: usize| {
        keys.push((format!("{path}.weight"), vec![out, inputs]));
        keys.push((format!("{path}.bias"), vec![out]));
    };
    let hidden = if swiglu { 176 } else { 4 * DIM };
    for i in 0..depth {
        let b = layout.block(i);
        for norm in ["norm1", "norm2"] {
            keys.push((format!("{b}.{norm}.weight"), vec![DIM]));
            keys.push((format!("{b}.{norm}.bias"), vec![DIM]));
        }
        match layout {
            Layout::TorchHub => {
                linear(&mut keys, format!("{b}.attn.qkv"), DIM, 3 * DIM);
                linear(&mut keys, format!("{b}.attn.proj"), DIM, DIM);
                keys.push((format!("{b}.ls1.gamma"), vec![DIM]));
                keys.push((format!("{b}.ls2.gamma"), vec![DIM]));
            }
            Layout::HuggingFace(naming) => {
                for name in naming.attention() {
                    linear(&mut keys, format!("{b}.{name}"), DIM, DIM);
                }
                keys.push((format!("{b}.layer_scale1.lambda1"), vec![DIM]));
                keys.push((format!("{b}.layer_scale2.lambda1"), vec![DIM]));
            }
        }
        let mlp: &[(&str, usize, usize)] = match (swiglu, layout) {
            (false, _) => &[("fc1", DIM, hidden), ("fc2", hidden, DIM)],
            (true, Layout::TorchHub) => &[("w12", DIM, 2 * hidden), ("w3", hidden, DIM)],
            (true, HF4) => &[("weights_in", DIM, 2 * hidden), ("weights_out", hidden, DIM)],
            (true, HF5) => &[
                ("gate_proj", DIM, hidden),
                ("up_proj", DIM, hidden),
                ("down_proj", hidden, DIM),
            ],
        };
        for &(name, inputs, out) in mlp {
            linear(&mut keys, format!("{b}.mlp.{name}"), inputs, out);
        }
    }
    keys
}

fn store(keys: Vec<(String, Vec<usize>)>) -> WeightStore {
    WeightStore::from_tensors(
        "tiny",
        keys.into_iter().map(|(key, shape)| {
            let n = shape.iter().product();
            (key, shape, vec![0.01; n])
        }),
    )
}

fn tap_names(teacher: &dyn Teacher, height: usize, width: usize) -> Vec<String> {
    selected_tap_names(teacher, height, width, &TapSelector::default())
}

fn selected_tap_names(
    teacher: &dyn Teacher,
    height: usize,
    width: usize,
    selector: &TapSelector,
) -> Vec<String> {
    let device = Device::flex();
    let input = Tensor::<4>::zeros([1, 3, height, width], &device);
    let mut taps = Taps::new(selector);
    teacher.forward(input, &mut taps);
    taps.into_vec().into_iter().map(|t| t.info.name).collect()
}

#[test]
fn infers_shape_and_layout_from_the_weights() {
    let config = Dinov2Config::infer(&store(tiny(HF4, 2, 4, true))).unwrap();
    assert_eq!(
        config,
        Dinov2Config {
            layout: HF4,
            dim: DIM,
            depth: 2,
            ffn: Ffn::SwiGlu(176),
            registers: 4,
            grid: GRID,
        }
    );
    assert_eq!(config.pos_interpolation(), PosInterpolation::Antialiased);
    let config = Dinov2Config::infer(&store(tiny(Layout::TorchHub, 1, 0, false))).unwrap();
    assert_eq!(
        (config.layout, config.depth, config.ffn, config.registers),
        (Layout::TorchHub, 1, Ffn::Mlp(256), 0)
    );
    assert_eq!(config.pos_interpolation(), PosInterpolation::PlainWithOffset);
}

#[test]
fn hub_taps_follow_the_hub_modules() {
    let teacher = teacher::load(
        "dinov2",
        store(tiny(Layout::TorchHub, 2, 0, false)),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(
        tap_names(teacher.as_ref(), 28, 42),
        [
            "patch_embed.proj",
            "blocks.0.attn.qkv",
            "blocks.0.attn.proj",
            "blocks.0.mlp.fc1",
            "blocks.0.mlp.fc2",
            "blocks.1.attn.qkv",
            "blocks.1.attn.proj",
            "blocks.1.mlp.fc1",
            "blocks.1.mlp.fc2",
        ]
    );
    let teacher = teacher::load(
        "dinov2",
        store(tiny(Layout::TorchHub, 1, 4, true)),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(
        tap_names(teacher.as_ref(), 14, 14),
        [
            "patch_embed.proj",
            "blocks.0.attn.qkv",
            "blocks.0.attn.proj",
            "blocks.0.mlp.w12",
            "blocks.0.mlp.w3"
        ]
    );
}

#[test]
fn transformers_taps_follow_the_checkpoint_modules() {
    let teacher = teacher::load("dinov2", store(tiny(HF4, 1, 4, true)), &Device::flex()).unwrap();
    assert_eq!(
        tap_names(teacher.as_ref(), 42, 28),
        [
            "embeddings.patch_embeddings.projection",
            "encoder.layer.0.attention.attention.query",
            "encoder.layer.0.attention.attention.key",
            "encoder.layer.0.attention.attention.value",
            "encoder.layer.0.attention.output.dense",
            "encoder.layer.0.mlp.weights_in",
            "encoder.layer.0.mlp.weights_out",
        ]
    );
}

#[test]
fn infers_the_transformers_5_naming_from_the_weights() {
    let config = Dinov2Config::infer(&store(tiny(HF5, 2, 4, true))).unwrap();
    assert_eq!(
        config,
        Dinov2Config {
            layout: HF5,
            dim: DIM,
            depth: 2,
            ffn: Ffn::SwiGlu(176),
            registers: 4,
            grid: GRID,
        }
    );
    assert_eq!(config.pos_interpolation(), PosInterpolation::Antialiased);
    let config = Dinov2Config::infer(&store(tiny(HF5, 1, 0, false))).unwrap();
    assert_eq!(
        (config.layout, config.depth, config.ffn, config.registers),
        (HF5, 1, Ffn::Mlp(256), 0)
    );
    assert_eq!(config.pos_interpolation(), PosInterpolation::Plain);
    // The name is the released model's, whichever naming the file has.
    assert_eq!(
        Dinov2Config {
            dim: 384,
            depth: 12,
            ffn: Ffn::Mlp(1536),
            ..config
        }
        .name(),
        "dinov2_vits14"
    );
}

#[test]
fn transformers_5_taps_follow_its_modules() {
    let teacher = teacher::load("dinov2", store(tiny(HF5, 2, 4, false)), &Device::flex()).unwrap();
    assert_eq!(
        tap_names(teacher.as_ref(), 28, 42),
        [
            "embeddings.patch_embeddings.projection",
            "encoder.layer.0.attention.q_proj",
            "encoder.layer.0.attention.k_proj",
            "encoder.layer.0.attention.v_proj",
            "encoder.layer.0.attention.o_proj",
            "encoder.layer.0.mlp.fc1",
            "encoder.layer.0.mlp.fc2",
            "encoder.layer.1.attention.q_proj",
            "encoder.layer.1.attention.k_proj",
            "encoder.layer.1.attention.v_proj",
            "encoder.layer.1.attention.o_proj",
            "encoder.layer.1.mlp.fc1",
            "encoder.layer.1.mlp.fc2",
        ]
    );
    // The SwiGLU split in two Linears records three taps, gate first.
    let teacher = teacher::load("dinov2", store(tiny(HF5, 1, 0, true)), &Device::flex()).unwrap();
    assert_eq!(
        tap_names(teacher.as_ref(), 42, 28),
        [
            "embeddings.patch_embeddings.projection",
            "encoder.layer.0.attention.q_proj",
            "encoder.layer.0.attention.k_proj",
            "encoder.layer.0.attention.v_proj",
            "encoder.layer.0.attention.o_proj",
            "encoder.layer.0.mlp.gate_proj",
            "encoder.layer.0.mlp.up_proj",
            "encoder.layer.0.mlp.down_proj",
        ]
    );
}

/// Every module hooked, in the order transformers 5.24's forward hooks record them
/// (checked on `Dinov2Model` / `Dinov2WithRegistersModel`): the activations are
/// modules with the release's names, and transformers 5's SwiGLU runs its SiLU module
/// between `gate_proj` and `up_proj`.
#[test]
fn activation_taps_are_named_as_the_release_names_them() {
    let selector = TapSelector::default().with_kinds(LayerKind::ALL);
    let block = |layout: Layout, swiglu: bool| -> Vec<String> {
        let teacher = teacher::load("dinov2", store(tiny(layout, 1, 0, swiglu)), &Device::flex()).unwrap();
        let names = selected_tap_names(teacher.as_ref(), 14, 14, &selector);
        let prefix = "encoder.layer.0.";
        names
            .iter()
            .filter_map(|name| name.strip_prefix(prefix))
            .map(str::to_owned)
            .collect()
    };
    let hf5_attention = [
        "norm1",
        "attention.q_proj",
        "attention.k_proj",
        "attention.v_proj",
        "attention.o_proj",
        "norm2",
    ];
    assert_eq!(
        block(HF5, false),
        [&hf5_attention[..], &["mlp.fc1", "mlp.activation_fn", "mlp.fc2"]].concat()
    );
    assert_eq!(
        block(HF5, true),
        [
            &hf5_attention[..],
            &["mlp.gate_proj", "mlp.act_fn", "mlp.up_proj", "mlp.down_proj"]
        ]
        .concat()
    );
    assert_eq!(block(HF4, false)[6..], ["mlp.fc1", "mlp.activation", "mlp.fc2"]);
    assert_eq!(block(HF4, true)[6..], ["mlp.weights_in", "mlp.weights_out"]);
}

#[test]
fn transformers_5_errors_name_the_first_bad_key() {
    let device = Device::flex();
    let mut keys = tiny(HF5, 1, 0, true);
    keys.retain(|(k, _)| k != "encoder.layer.0.attention.k_proj.bias");
    let err = teacher::load("dinov2", store(keys), &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing weight `encoder.layer.0.attention.k_proj.bias`"),
        "{err}"
    );

    // The naming is the file's, not each block's.
    let mut keys = tiny(HF5, 2, 0, false);
    for (key, _) in &mut keys {
        if let Some(rest) = key.strip_prefix("encoder.layer.1.attention.q_proj") {
            *key = format!("encoder.layer.1.attention.attention.query{rest}");
        }
    }
    let err = teacher::load("dinov2", store(keys), &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing weight `encoder.layer.1.attention.q_proj.weight`"),
        "{err}"
    );

    let mut keys = tiny(HF5, 1, 0, true);
    keys.retain(|(k, _)| k != "encoder.layer.0.mlp.down_proj.weight");
    let err = teacher::load("dinov2", store(keys), &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing weight `encoder.layer.0.mlp.down_proj.weight`"),
        "{err}"
    );

    // transformers 4's fused SwiGLU under transformers 5's attention names.
    let mut keys = tiny(HF5, 1, 0, false);
    keys.retain(|(k, _)| !k.contains(".mlp."));
    keys.push(("encoder.layer.0.mlp.weights_in.weight".into(), vec![352, DIM]));
    let err = teacher::load("dinov2", store(keys), &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot find the MLP of `encoder.layer.0`"), "{err}");

    let err = teacher::load("dinov2_vits14", store(tiny(HF5, 1, 0, false)), &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("these are dinov2 (width 64"), "{err}");
}

#[test]
fn refuses_sides_that_are_not_multiples_of_14() {
    let teacher = teacher::load(
        "dinov2",
        store(tiny(Layout::TorchHub, 1, 0, false)),
        &Device::flex(),
    )
    .unwrap();
    assert!(teacher.check_input(224, 168).is_ok());
    for (h, w) in [(225, 224), (224, 230), (0, 14), (7, 7)] {
        let err = teacher.check_input(h, w).unwrap_err().to_string();
        assert!(err.contains("multiples of the patch size 14"), "{err}");
    }
}

#[test]
fn missing_and_unexpected_keys_are_named() {
    let device = Device::flex();
    let mut keys = tiny(Layout::TorchHub, 1, 0, false);
    keys.retain(|(k, _)| k != "blocks.0.attn.proj.bias");
    let err = teacher::load("dinov2", store(keys), &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing weight `blocks.0.attn.proj.bias`"), "{err}");

    let mut keys = tiny(HF4, 1, 0, false);
    keys.push(("encoder.layer.0.extra".into(), vec![2]));
    let err = teacher::load("dinov2", store(keys), &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unexpected weight `encoder.layer.0.extra`"), "{err}");

    let mut keys = tiny(Layout::TorchHub, 1, 0, false);
    keys.retain(|(k, _)| k != "mask_token");
    keys.push(("mask_token".into(), vec![1, DIM + 1]));
    let err = teacher::load("dinov2", store(keys), &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`mask_token` has shape [1, 65]"), "{err}");

    let err = teacher::load(
        "dinov2",
        store(vec![("features.0.weight".into(), vec![1])]),
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no DINOv2 weights"), "{err}");
}

#[test]
fn mask_token_is_optional() {
    let mut keys = tiny(HF4, 1, 0, false);
    keys.retain(|(k, _)| k != "embeddings.mask_token");
    assert!(teacher::load("dinov2", store(keys), &Device::flex()).is_ok());
}

#[test]
fn released_names_follow_the_shapes() {
    let small = Dinov2Config {
        layout: HF4,
        dim: 384,
        depth: 12,
        ffn: Ffn::Mlp(1536),
        registers: 0,
        grid: 37,
    };
    assert_eq!(small.name(), "dinov2_vits14");
    assert_eq!(
        Dinov2Config {
            registers: 4,
            ..small
        }
        .name(),
        "dinov2_vits14_reg"
    );
    assert!(
        Dinov2Config { depth: 11, ..small }
            .name()
            .starts_with("dinov2 (width 384, depth 11")
    );
    let giant = Dinov2Config {
        dim: 1536,
        depth: 40,
        ffn: Ffn::SwiGlu(4096),
        registers: 4,
        ..small
    };
    assert_eq!(giant.name(), "dinov2_vitg14_reg");
    assert_eq!(
        Dinov2::variants()
            .into_iter()
            .map(|v| v.name())
            .collect::<Vec<_>>(),
        [
            "dinov2_vits14",
            "dinov2_vitb14",
            "dinov2_vitl14",
            "dinov2_vitg14",
            "dinov2_vits14_reg",
            "dinov2_vitb14_reg",
            "dinov2_vitl14_reg",
            "dinov2_vitg14_reg"
        ]
    );

    let err = teacher::load(
        "dinov2_vits14",
        store(tiny(Layout::TorchHub, 1, 0, false)),
        &Device::flex(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("these are dinov2 (width"), "{err}");
    assert!(err.contains("weights, not dinov2_vits14"), "{err}");
}

#[test]
fn native_grid_is_used_as_is_and_other_grids_are_resampled() {
    let device = Device::flex();
    let values: Vec<f32> = (0..(1 + GRID * GRID) * 2).map(|i| i as f32).collect();
    let embedding = Tensor::<3>::from_data(TensorData::new(values.clone(), [1, 1 + GRID * GRID, 2]), &device);
    for interpolation in [
        PosInterpolation::PlainWithOffset,
        PosInterpolation::Plain,
        PosInterpolation::Antialiased,
    ] {
        let pos = PositionEmbedding::new(embedding.clone(), GRID, 2, interpolation);
        let same: Vec<f32> = pos.patches(GRID, GRID).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(same, values[2..]);
        assert_eq!(pos.patches(2, 5).dims(), [1, 10, 2]);
    }
    // With the 0.1 offset, keeping the row count still moves the rows.
    let pos = PositionEmbedding::new(embedding, GRID, 2, PosInterpolation::PlainWithOffset);
    let moved: Vec<f32> = pos.patches(GRID, 2).into_data().try_to_vec::<f32>().unwrap();
    let plain = PositionEmbedding::new(
        Tensor::<3>::from_data(TensorData::new(values, [1, 1 + GRID * GRID, 2]), &device),
        GRID,
        2,
        PosInterpolation::Plain,
    );
    let kept: Vec<f32> = plain.patches(GRID, 2).into_data().try_to_vec::<f32>().unwrap();
    assert_ne!(moved, kept);
}
