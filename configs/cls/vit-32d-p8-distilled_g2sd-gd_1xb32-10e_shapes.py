"""Demo G2SD classification student on the shapes data: the 32d/4-block ViT
with class + distillation tokens (:class:`G2SDDistilledViT`) and
:class:`G2SDDistilledClsHead`. The student of ``g2sd_vit-32d_cls_1xb32-10e_shapes.py`` and
the config to test its extracted student with ``tools/test.py``."""
_base_ = ['./vit-32d-p8-g2sd-gd_1xb32-10e_shapes.py']

model = dict(
    backbone=dict(type='G2SDDistilledViT'),
    head=dict(_delete_=True, type='G2SDDistilledClsHead', num_classes=4, in_channels=32,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]))
