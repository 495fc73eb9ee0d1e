"""G2SD specific distillation for detection: ViT-B Mask R-CNN teacher -> ViT-Tiny."""
_base_ = ['./g2sd_vits_maskrcnn.py']

model = dict(
    student=dict(cfg_path='configs/det/vitdet_mask-rcnn_vit-t-g2sd_simple-fpn_8xb8-lsj-100e_coco.py'))
