"""``vit-s_in1k_coco_ade20k.py`` with ViT-Tiny students (same published teachers).

    python tools/pipeline.py pipelines/vit-t_in1k_coco_ade20k.py --gpus 8 [--dry-run]
"""
_base_ = ['./vit-s_in1k_coco_ade20k.py']

work_dir = 'work_dirs/g2sd_vit-t_in1k_coco_ade20k'
student = 'vit-t'
gd_cfg = 'configs/pretrain/g2sd_vit-tiny-p16_gd_8xb512-amp-300e_in1k.py'
cls_student_cfg = 'configs/cls/vit-tiny-p16_g2sd-gd_8xb128-amp-200e_in1k.py'
cls_g2sd_cfg = 'configs/cls/g2sd_vitt_cls.py'
cls_g2sd_student_cfg = 'configs/cls/vit-tiny-p16-distilled_g2sd-gd_8xb128-amp-200e_in1k.py'
det_student_cfg = 'configs/det/vitdet_mask-rcnn_vit-t-g2sd_simple-fpn_8xb8-lsj-100e_coco.py'
det_g2sd_cfg = 'configs/det/g2sd_vitt_maskrcnn.py'
seg_student_cfg = 'configs/seg/upernet_vit-t-g2sd_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py'
seg_g2sd_cfg = 'configs/seg/g2sd_vitt_upernet.py'
