"""G2SD classification distillation with the NKD option, MAE ViT-B -> ViT-T
(see ``g2sd_vits_cls_nkd.py``)."""
_base_ = ['./g2sd_vits_cls_nkd.py']

model = dict(
    student=dict(cfg_path='configs/cls/vit-tiny-p16-distilled_g2sd-gd_8xb128-amp-200e_in1k.py'))
