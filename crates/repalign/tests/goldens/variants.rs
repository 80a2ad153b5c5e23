//! The original's current variants against the PyTorch reference: whole-sample
//! normalisation and masks (fixtures from `scripts/reference/goldens_variants.py`).

golden!(
    vgg11_plain_sample_none,
    vgg16_resize_sample_linear,
    vgg11_plain_g2_masked,
    vgg16_resize_g3_masked_exp,
    vgg16_resize_sample_masked_linear,
    resnet18_sample_linear,
    resnet50_resize_g2_masked,
    resnet18_sample_masked_none,
    dinov2_hub_resize_sample_linear,
    dinov2_hub_reg_168x252_g2_masked,
    dinov2_hf_reg_resize_sample_masked_linear,
    dinov2_hf_168x252_sample_none,
    dinov2_hf_126x98_g3_masked_exp,
    vgg16_resize_hw_sample_linear,
    dinov2_hf_resize_hw_sample_masked_linear,
);
