//! Goldens: our losses and gradients against the PyTorch reference, one test per
//! fixture (`tests/fixtures/*.json`, written by `scripts/reference/`).

mod cnn;
mod dinov2;
mod mobile;
mod resize;
mod vgg;
