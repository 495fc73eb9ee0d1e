"""G2SD specific distillation for semantic segmentation: ViT-B UperNet teacher -> ViT-Tiny.

Same teacher and ``teacher_ckpt`` as ``g2sd_vits_upernet.py`` (see there: the
converted mmseg model zoo MAE ViT-B UperNet, a converted G2SD reference
teacher, or the teacher config's own training run).
"""
_base_ = ['./g2sd_vits_upernet.py']

model = dict(
    student=dict(
        cfg_path='configs/seg/upernet_vit-t-g2sd_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py'))
