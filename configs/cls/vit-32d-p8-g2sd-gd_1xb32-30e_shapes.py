"""Demo student-only baseline on the shapes data: the 32d/4-block ViT of the
stage-1 demo (``g2sd_vit-tiny-p8_gd_1xb32-30e_shapes.py``), backbone from its
export, class-token classifier, labels only; schedule as the demo teacher.
Set the export with ``--cfg-options model.backbone.init_cfg.checkpoint=PATH``.
"""
_base_ = ['./vit-64d-p8-mae-ft_1xb32-30e_shapes.py']

pretrained = 'work_dirs/demo/gd/export/vit-tiny-p8_shapes_backbone.pth'
model = dict(
    backbone=dict(
        arch=dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=128),
        out_type='cls_token', final_norm=True, init_cfg=dict(checkpoint=pretrained)),
    head=dict(type='VisionTransformerClsHead', in_channels=32))
