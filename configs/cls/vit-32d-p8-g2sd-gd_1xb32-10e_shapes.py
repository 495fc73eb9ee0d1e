"""Demo student-only baseline on the shapes data: the 32d/4-block ViT of the
stage-1 demo (``g2sd_vit-tiny-p8_gd_1xb32-8e_shapes.py``), backbone from its
export, class-token classifier, labels only; as the demo teacher but 10
epochs.
Set the export with ``--cfg-options model.backbone.init_cfg.checkpoint=PATH``.
"""
_base_ = ['./vit-64d-p8-mae-ft_1xb32-15e_shapes.py']

pretrained = 'work_dirs/demo/gd/export/vit-tiny-p8_shapes_backbone.pth'
model = dict(
    backbone=dict(
        arch=dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=128),
        out_type='cls_token', final_norm=True, init_cfg=dict(checkpoint=pretrained)),
    head=dict(type='VisionTransformerClsHead', in_channels=32))

max_epochs = 10
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-6, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
