"""Demo student-only baseline: the 32-d stage-1 demo student (patch 8) in the
same UperNet as the demo teacher (UPerHead channels 32), no task distillation.
``pretrained`` is the stage-1 export (``*_backbone.pth``); ``make demo``
passes the real path."""
_base_ = ['./upernet_vit-64d-mae_feature2pyramid_1xb4-600it_shapes.py']

pretrained = 'work_dirs/demo/gd/export/vit-tiny-p8_shapes_backbone.pth'
embed_dim = 32
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dim=embed_dim, depth=4, num_heads=2),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(embed_dim=embed_dim),
    decode_head=dict(in_channels=[embed_dim] * 4, channels=embed_dim),
    auxiliary_head=dict(in_channels=embed_dim))

# students train 400 iterations; the teacher 1.5x as long (600)
max_iters = 400
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, by_epoch=False, begin=20, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
