//! torchvision's `Normalize(mean, std)`.

use burn::tensor::{Tensor, TensorData};

/// `(x - mean) / std` per channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    /// Per-channel mean.
    pub mean: [f32; 3],
    /// Per-channel standard deviation.
    pub std: [f32; 3],
}

impl Normalize {
    /// ImageNet statistics, as torchvision's and DINOv2's presets use them.
    pub const IMAGENET: Normalize = Normalize {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Normalises `(B, 3, H, W)`.
    pub fn apply(&self, image: Tensor<4>) -> Tensor<4> {
        let device = image.device();
        let mean = Tensor::<4>::from_data(TensorData::new(self.mean.to_vec(), [1, 3, 1, 1]), &device);
        let std = Tensor::<4>::from_data(TensorData::new(self.std.to_vec(), [1, 3, 1, 1]), &device);
        (image - mean) / std
    }
}
