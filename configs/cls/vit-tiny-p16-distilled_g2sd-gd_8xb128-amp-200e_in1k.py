"""The G2SD classification student ViT-T/16 with a distillation token (see
``vit-small-p16-distilled_g2sd-gd_8xb128-amp-200e_in1k.py``)."""
_base_ = ['./vit-tiny-p16_g2sd-gd_8xb128-amp-200e_in1k.py']

model = dict(
    backbone=dict(type='G2SDDistilledViT'),
    head=dict(_delete_=True, type='DeiTClsHead', num_classes=1000, in_channels=192,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]))
