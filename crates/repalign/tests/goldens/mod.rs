//! Goldens: our losses and gradients (and the WNGradW optimizer) against the PyTorch
//! reference, one test per fixture (`tests/fixtures/*.json`, written by
//! `scripts/reference/`).

mod cnn;
mod convnext;
mod dinov2;
mod mobile;
mod resize;
mod variants;
mod vgg;
mod wngradw;
