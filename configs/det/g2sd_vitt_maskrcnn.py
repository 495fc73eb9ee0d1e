"""G2SD specific distillation for detection: ViT-B Mask R-CNN teacher -> ViT-Tiny.

Published teacher (detectron2 ViTDet ViT-B, model id 325346929), converted with
``tools/model_converters/vitdet_d2_to_mmdet.py model_final_61ccd1.pkl OUT.pth
--arch b`` and passed as ``--cfg-options model.teacher_ckpt=OUT.pth``; see
``g2sd_vits_maskrcnn.py``. Released G2SD reference ViT-Tiny students convert
with ``--arch t`` (student-only config) or ``--arch t --keep-adapters`` (this
config).
"""
_base_ = ['./g2sd_vits_maskrcnn.py']

model = dict(
    student=dict(cfg_path='configs/det/vitdet_mask-rcnn_vit-t-g2sd_simple-fpn_8xb8-lsj-100e_coco.py'))
