"""Demo student-only baseline: the 32-d stage-1 demo student (patch 8) in the
same UperNet as the demo teacher (UPerHead channels 32), no task distillation.
``pretrained`` is the stage-1 export (``*_backbone.pth``); ``make demo``
passes the real path."""
_base_ = ['./upernet_vit-64d-mae_feature2pyramid_1xb4-800it_shapes.py']

pretrained = 'work_dirs/demo/gd/export/vit-tiny-p8_shapes_backbone.pth'
embed_dim = 32
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dim=embed_dim, depth=4, num_heads=2),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(embed_dim=embed_dim),
    decode_head=dict(in_channels=[embed_dim] * 4, channels=embed_dim),
    auxiliary_head=dict(in_channels=embed_dim))
