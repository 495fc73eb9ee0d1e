"""G2SD specific distillation for semantic segmentation: ViT-B UperNet teacher -> ViT-Tiny."""
_base_ = ['./g2sd_vits_upernet.py']

model = dict(
    student=dict(
        cfg_path='configs/seg/upernet_vit-t-g2sd_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py'))
