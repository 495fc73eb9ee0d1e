"""Demo student-only baseline: the 32-d stage-1 demo student (patch 8) in the
same Mask R-CNN as the demo teacher, no task distillation. ``pretrained`` is
the stage-1 export (``*_backbone.pth``); ``make demo`` passes the real path.
The schedule is 300 iterations (the teacher: 450)."""
_base_ = ['./vitdet_mask-rcnn_vit-64d-mae_simple-fpn_1xb2-450it_shapes.py']

pretrained = 'work_dirs/demo/gd/export/vit-tiny-p8_shapes_backbone.pth'
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dim=32, depth=4, num_heads=2),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(backbone_channel=32, in_channels=[8, 16, 32, 32]))

# students train 300 iterations; the teacher 1.5x as long (450)
max_iters = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[int(max_iters * 0.75)], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
