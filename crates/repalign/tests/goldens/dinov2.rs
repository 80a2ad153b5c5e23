//! DINOv2 in both weight layouts against the PyTorch reference (fixtures from
//! `scripts/reference/goldens_dinov2.py`: torch.hub structure and transformers'
//! `Dinov2Model` / `Dinov2WithRegistersModel`, reduced width and depth, the released
//! 37x37 position-embedding grid).

golden!(
    dinov2_hub_resize_g2_none,
    dinov2_hub_168x252_g3_exp,
    dinov2_hub_518x28_g2_linear,
    dinov2_hub_reg_resize_g3_exp,
    dinov2_hub_reg_168x252_g2_linear,
    dinov2_hub_vits_resize_g2_exp,
    dinov2_hub_swiglu_126x98_g3_none,
    dinov2_hf_resize_g3_linear,
    dinov2_hf_168x252_g2_none,
    dinov2_hf_518x28_g3_exp,
    dinov2_hf_reg_resize_g2_exp,
    dinov2_hf_reg_168x252_g3_none,
    dinov2_hf_reg_swiglu_126x98_g2_linear,
);
