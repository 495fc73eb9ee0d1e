"""The G2SD classification student ViT-T/16 with a distillation token (see
``vit-small-p16-distilled_g2sd-gd_8xb128-amp-200e_in1k.py``; drop path 0 as
the reference's specific-distillation run)."""
_base_ = ['./vit-tiny-p16_g2sd-gd_8xb128-amp-200e_in1k.py']

model = dict(
    backbone=dict(type='G2SDDistilledViT', drop_path_rate=0.0),
    head=dict(_delete_=True, type='G2SDDistilledClsHead', num_classes=1000, in_channels=192,
              eval_heads='average', dist_init_std=0.02,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]))
