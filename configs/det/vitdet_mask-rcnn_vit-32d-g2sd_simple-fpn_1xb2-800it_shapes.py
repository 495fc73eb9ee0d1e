"""Demo student-only baseline: the 32-d stage-1 demo student (patch 8) in the
same Mask R-CNN as the demo teacher, no task distillation. ``pretrained`` is
the stage-1 export (``*_backbone.pth``); ``make demo`` passes the real path."""
_base_ = ['./vitdet_mask-rcnn_vit-64d-mae_simple-fpn_1xb2-800it_shapes.py']

pretrained = 'work_dirs/demo/gd/export/vit-tiny-p8_shapes_backbone.pth'
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dim=32, depth=4, num_heads=2),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(backbone_channel=32, in_channels=[8, 16, 32, 32]))
