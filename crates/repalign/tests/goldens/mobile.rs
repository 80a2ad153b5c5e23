//! MobileNetV2, EfficientNet B0-B7 and EfficientNet-Lite against the PyTorch reference
//! (fixtures from `scripts/reference/goldens_mobile.py`), and their weight checks.

golden!(
    mobilenet_v2_g2_none,
    mobilenet_v2_g3_exp,
    mobilenet_v2_resize224_g2_linear,
    efficientnet_b0_g2_exp,
    efficientnet_b0_resize_g3_linear,
    efficientnet_b5_inferred_g3_none,
    efficientnet_lite0_g2_none,
    efficientnet_lite0_g3_exp,
    efficientnet_lite0_resize224_g2_linear,
    efficientnet_lite2_resize_g3_linear,
);
