//! VGG against the PyTorch reference (fixtures from `scripts/reference/goldens_vgg.py`).

golden!(
    vgg11_plain_g2_none,
    vgg11_plain_g3_exp,
    vgg11_plain_g2_linear,
    vgg11_bn_classifier_resize_g2_exp,
    vgg11_bn_classifier_resize_g3_none,
    vgg16_resize_g3_linear,
    vgg16_resize_g2_exp,
);
