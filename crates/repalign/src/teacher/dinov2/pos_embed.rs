//! DINOv2's learned position embedding and its resampling to the input's patch grid.
//!
//! The checkpoints hold one embedding for the class token and an `M`x`M` grid (37x37,
//! i.e. 518 px) for the patches. Any other grid is resampled with bicubic
//! `F.interpolate`, and the reference implementations disagree on the details, so we
//! reproduce each exactly (SPEC §6). Resampling is separable: two constant matmuls with
//! the 1-D weight matrices of [`resample`], computed once per grid size and applied to
//! constants only (no gradient flows into the teacher).

use burn::tensor::{Device, Tensor, TensorData};

use crate::preprocess::resample::{self, Interpolation};

/// How the patch grid of the position embedding is resampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosInterpolation {
    /// torch.hub without registers: bicubic, `antialias=False`, with
    /// `scale_factor = (h0 + 0.1) / M` (the historical offset). ATen then samples
    /// with the scale `1 / scale_factor`, not `M / h0`.
    PlainWithOffset,
    /// transformers' `Dinov2Model`: bicubic, `antialias=False`, `size=(h0, w0)`.
    Plain,
    /// Models with registers (torch.hub and transformers alike): bicubic,
    /// `antialias=True`, `size=(h0, w0)`.
    Antialiased,
}

/// The class-token embedding and the `M`x`M` patch grid.
#[derive(Debug, Clone)]
pub(super) struct PositionEmbedding {
    /// `(1, 1, D)`.
    class: Tensor<3>,
    /// `(1, D, M, M)`, channels first as `F.interpolate` sees it.
    grid: Tensor<4>,
    side: usize,
    dim: usize,
    interpolation: PosInterpolation,
}

impl PositionEmbedding {
    /// Splits a `(1, 1 + M*M, D)` embedding into class token and grid.
    pub fn new(embedding: Tensor<3>, side: usize, dim: usize, interpolation: PosInterpolation) -> Self {
        let class = embedding.clone().narrow(1, 0, 1);
        let grid = embedding
            .narrow(1, 1, side * side)
            .reshape([1, side, side, dim])
            .permute([0, 3, 1, 2]);
        PositionEmbedding {
            class,
            grid,
            side,
            dim,
            interpolation,
        }
    }

    /// The class-token embedding, `(1, 1, D)`.
    pub fn class(&self) -> Tensor<3> {
        self.class.clone()
    }

    /// The patch embeddings for a `rows`x`cols` patch grid, `(1, rows*cols, D)` in
    /// row-major patch order.
    pub fn patches(&self, rows: usize, cols: usize) -> Tensor<3> {
        // Both implementations return the stored embedding untouched for the native
        // square grid; resampling it would not be the identity with the 0.1 offset.
        let grid = if rows == self.side && cols == self.side {
            self.grid.clone()
        } else {
            let device = self.grid.device();
            let row_matrix = self.matrix(rows, &device);
            let col_matrix = self.matrix(cols, &device).transpose();
            row_matrix.matmul(self.grid.clone()).matmul(col_matrix)
        };
        grid.permute([0, 2, 3, 1]).reshape([1, rows * cols, self.dim])
    }

    /// The `(1, 1, out, M)` resampling matrix along one axis.
    fn matrix(&self, output: usize, device: &Device) -> Tensor<4> {
        let input = self.side;
        let weights = match self.interpolation {
            PosInterpolation::PlainWithOffset => {
                let scale_factor = (output as f64 + 0.1) / input as f64;
                resample::plain(
                    input,
                    output,
                    0..output,
                    Interpolation::Bicubic,
                    Some(scale_factor),
                )
            }
            PosInterpolation::Plain => {
                resample::plain(input, output, 0..output, Interpolation::Bicubic, None)
            }
            PosInterpolation::Antialiased => {
                resample::antialiased(input, output, 0..output, Interpolation::Bicubic, None)
            }
        };
        // PyTorch resamples in f32; the f64 weights rounded once are as close as it gets.
        let weights: Vec<f32> = weights.into_iter().map(|w| w as f32).collect();
        Tensor::from_data(TensorData::new(weights, [1, 1, output, input]), device)
    }
}
