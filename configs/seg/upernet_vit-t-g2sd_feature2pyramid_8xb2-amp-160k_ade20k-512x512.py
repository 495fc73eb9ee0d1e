"""Student-only baseline, ViT-Tiny/16 (192 d, 3 heads) from the G2SD stage-1
ViT-Tiny student; UPerHead channels = 192; otherwise as the ViT-S baseline.

The G2SD reference's released ViT-T UperNet students (mmseg 0.x, plain or
inside its distillation checkpoints) test with this config after
``tools/model_converters/g2sd_reference_seg_to_g2sd.py IN OUT [--part student]``.
"""
_base_ = ['./upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py']

pretrained = 'checkpoints/g2sd_vit-tiny-p16_gd_backbone.pth'
embed_dim = 192
model = dict(
    backbone=dict(arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(embed_dim=embed_dim),
    decode_head=dict(in_channels=[embed_dim] * 4, channels=embed_dim),
    auxiliary_head=dict(in_channels=embed_dim))
