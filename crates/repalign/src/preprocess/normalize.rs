//! torchvision's `Normalize(mean, std)`.

use burn::tensor::{Tensor, TensorData};

/// The channel order a teacher expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelOrder {
    /// Red, green, blue (torchvision, timm, DINOv2).
    #[default]
    Rgb,
    /// Blue, green, red (Caffe-trained weights such as the original VGG).
    Bgr,
}

/// `(x - mean) / std` per channel, after putting the channels in the teacher's order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    /// Per-channel mean, in the teacher's channel order.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, in the teacher's channel order.
    pub std: [f32; 3],
    /// Channel order the teacher expects.
    pub order: ChannelOrder,
}

impl Normalize {
    /// ImageNet statistics, as torchvision's and DINOv2's presets use them.
    pub const IMAGENET: Normalize = Normalize {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        order: ChannelOrder::Rgb,
    };

    /// The original (Caffe) VGG: BGR on a 0–255 scale minus the BGR pixel mean,
    /// `255 x_bgr - (103.939, 116.779, 123.68)`.
    pub const CAFFE: Normalize = Normalize {
        mean: [103.939 / 255.0, 116.779 / 255.0, 123.68 / 255.0],
        std: [1.0 / 255.0; 3],
        order: ChannelOrder::Bgr,
    };

    /// Normalises `(B, 3, H, W)`.
    pub fn apply(&self, image: Tensor<4>) -> Tensor<4> {
        let image = match self.order {
            ChannelOrder::Rgb => image,
            ChannelOrder::Bgr => image.flip([1]),
        };
        let device = image.device();
        let mean = Tensor::<4>::from_data(TensorData::new(self.mean.to_vec(), [1, 3, 1, 1]), &device);
        let std = Tensor::<4>::from_data(TensorData::new(self.std.to_vec(), [1, 3, 1, 1]), &device);
        (image - mean) / std
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn caffe_preset_is_bgr_255_minus_mean() {
        let device = Device::flex();
        let rgb = Tensor::<4>::from_data(TensorData::new(vec![0.1f32, 0.5, 0.9], [1, 3, 1, 1]), &device);
        let out: Vec<f32> = Normalize::CAFFE.apply(rgb).into_data().try_to_vec().unwrap();
        let expected = [0.9 * 255.0 - 103.939, 0.5 * 255.0 - 116.779, 0.1 * 255.0 - 123.68];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-3, "{out:?} vs {expected:?}");
        }
    }
}
