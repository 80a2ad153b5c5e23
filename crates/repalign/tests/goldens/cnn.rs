//! ResNet, AlexNet and SqueezeNet against the PyTorch reference (fixtures from
//! `scripts/reference/goldens_cnn.py`).

golden!(
    resnet18_g2_none,
    resnet18_resize224_g2_exp,
    resnet34_g3_linear,
    resnet50_g2_exp,
    resnet50_resize_g3_none,
    resnet152_g2_linear,
    alexnet_features_g2_none,
    alexnet_classifier_g3_exp,
    alexnet_features_resize224_g2_linear,
    squeezenet1_0_g2_none,
    squeezenet1_0_features_g3_linear,
    squeezenet1_1_g3_exp,
    squeezenet1_1_resize_g2_linear,
);
