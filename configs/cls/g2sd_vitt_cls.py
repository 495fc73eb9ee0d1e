"""G2SD specific distillation for classification: MAE ViT-B (fine-tuned) -> ViT-T.

    tools/dist_train.sh configs/cls/g2sd_vitt_cls.py 8

As ``g2sd_vits_cls.py`` with the ViT-T/16 student
(``vit-tiny-p16-distilled_g2sd-gd_8xb128-amp-200e_in1k.py``).
"""
_base_ = ['./g2sd_vits_cls.py']

model = dict(
    student=dict(cfg_path='configs/cls/vit-tiny-p16-distilled_g2sd-gd_8xb128-amp-200e_in1k.py'))
