//! torchvision ConvNeXt against the PyTorch reference (fixtures from
//! `scripts/reference/goldens_convnext.py`): small configurations read off the weights,
//! channels-last Linear taps (masked too), and the published tiny by its full name.

golden!(
    convnext_small_head_g2_none,
    convnext_features_72x56_g3_linear,
    convnext_resize_g2_exp,
    convnext_tiny_g2_exp,
    convnext_masked_g3_none,
    convnext_sample_masked_linear,
);
