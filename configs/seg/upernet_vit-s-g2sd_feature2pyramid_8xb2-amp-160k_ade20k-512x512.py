"""Student-only baseline: UperNet on ViT-S/16 initialised from the G2SD
stage-1 student (no task distillation); UPerHead channels = 384.

``pretrained`` is the ``*_backbone.pth`` written by
``tools/model_converters/g2sd_gd_export.py`` from the stage-1 checkpoint.
This file is also the student model of ``g2sd_vits_upernet.py``.

The G2SD reference's released ViT-S UperNet students (mmseg 0.x, plain or
inside its distillation checkpoints) test with this config after
``tools/model_converters/g2sd_reference_seg_to_g2sd.py IN OUT [--part student]``.
"""
_base_ = ['./upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py']

pretrained = 'checkpoints/g2sd_vit-small-p16_gd_backbone.pth'
embed_dim = 384
model = dict(
    backbone=dict(arch='small', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(embed_dim=embed_dim),
    decode_head=dict(in_channels=[embed_dim] * 4, channels=embed_dim),
    auxiliary_head=dict(in_channels=embed_dim))
