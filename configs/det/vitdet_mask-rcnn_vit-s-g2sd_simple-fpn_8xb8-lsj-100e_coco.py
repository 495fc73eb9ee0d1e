"""Student-only baseline: ViTDet-style Mask R-CNN with a ViT-S/16 backbone
initialised from the G2SD stage-1 student (no task distillation).

``pretrained`` is the ``*_backbone.pth`` written by
``tools/model_converters/g2sd_gd_export.py`` from the stage-1 checkpoint.
This file is also the student model of ``g2sd_vits_maskrcnn.py``.
"""
_base_ = ['./vitdet_mask-rcnn_vit-b-mae_simple-fpn_8xb8-lsj-100e_coco.py']

pretrained = 'checkpoints/g2sd_vit-small-p16_gd_backbone.pth'
model = dict(
    backbone=dict(arch='small', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(backbone_channel=384, in_channels=[96, 192, 384, 384]))
