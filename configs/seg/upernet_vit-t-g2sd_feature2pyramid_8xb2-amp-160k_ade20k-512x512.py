"""Student-only baseline, ViT-Tiny/16 (192 d, 3 heads) from the G2SD stage-1
ViT-Tiny student; UPerHead channels = 192; otherwise as the ViT-S baseline."""
_base_ = ['./upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py']

pretrained = 'checkpoints/g2sd_vit-tiny-p16_gd_backbone.pth'
embed_dim = 192
model = dict(
    backbone=dict(arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(embed_dim=embed_dim),
    decode_head=dict(in_channels=[embed_dim] * 4, channels=embed_dim),
    auxiliary_head=dict(in_channels=embed_dim))
