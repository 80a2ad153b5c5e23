//! DINOv2 in both weight layouts against the PyTorch reference (fixtures from
//! `scripts/reference/goldens_dinov2.py`: torch.hub structure and transformers'
//! `Dinov2Model` / `Dinov2WithRegistersModel`, reduced width and depth, the released
//! 37x37 position-embedding grid). The transformers cases come in both namings: the
//! published files' (transformers 4, `dinov2_hf_*`) and transformers 5.24's own
//! (`dinov2_hf5_*`: `attention.q_proj`, …, the split SwiGLU `gate_proj`, `up_proj`,
//! `down_proj`).

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
    dinov2_hf5_resize_g2_exp,
    dinov2_hf5_reg_resize_g3_linear,
    dinov2_hf5_reg_swiglu_70x56_g3_none,
);
