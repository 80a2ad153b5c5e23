//! Optimizers for the students the loss trains.
//!
//! [`WnGradWConfig`] builds WNGradW, the optimizer the PyTorch original trains with, as a
//! burn [`ModuleOptimizer`](burn::optim::ModuleOptimizer): it steps a module exactly as
//! burn's `AdamWConfig::init()` does (`optimizer.step(lr, module, grads)`), and its state
//! saves and loads through burn's optimizer records.

mod wngradw;

pub use wngradw::{WnGradW, WnGradWConfig, WnGradWState};
