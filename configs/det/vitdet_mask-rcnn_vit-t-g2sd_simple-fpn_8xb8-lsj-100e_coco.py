"""Student-only baseline, ViT-Tiny/16 (192 d, 3 heads) from the G2SD stage-1
ViT-Tiny student; otherwise as the ViT-S baseline."""
_base_ = ['./vitdet_mask-rcnn_vit-b-mae_simple-fpn_8xb8-lsj-100e_coco.py']

pretrained = 'checkpoints/g2sd_vit-tiny-p16_gd_backbone.pth'
model = dict(
    backbone=dict(arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(backbone_channel=192, in_channels=[48, 96, 192, 192]))
