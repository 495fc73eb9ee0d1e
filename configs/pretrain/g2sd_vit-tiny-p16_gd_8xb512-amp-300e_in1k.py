"""G2SD generic distillation, MAE ViT-B/16 -> ViT-Tiny/16 (192d, 12 blocks,
3 heads) with a 128d/4-block/4-head decoder; otherwise the ViT-S recipe."""
_base_ = ['./g2sd_vit-small-p16_gd_8xb512-amp-300e_in1k.py']

model = dict(
    student=dict(arch='tiny', decoder_embed_dim=128, decoder_depth=4, decoder_num_heads=4))
