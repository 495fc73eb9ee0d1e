"""G2SD specific distillation for detection: ViT-B Mask R-CNN teacher -> ViT-S.

    tools/dist_train.sh configs/det/g2sd_vits_maskrcnn.py 8

Student: the ViT-S baseline model (backbone from the stage-1 export); teacher:
the fine-tuned ViT-B ViTDet Mask R-CNN (``teacher_ckpt``, loaded strictly; it
runs backbone + neck + RPN head only, frozen, in eval mode, without autograd).
FRS losses on the 5 FPN levels: feature 0.001, objectness 0.1, linear warm-up
over 500 iterations. Recipe as the baselines (LSJ 1024, total batch 64 = 8 GPUs
x 8, 184,375 iterations, AdamW 1e-4, layer decay 0.7, drop path 0.1, AMP)
except weight decay 0.05 (the reference's distillation command, ``run.sh``;
the baselines keep ViTDet's 0.1). Validation/test run the student only; extract it with
``tools/model_converters/extract_student.py`` and test it with the baseline
config. Name in the OpenMMLab scheme:
g2sd-sd_vit-b-mae_vit-s_simple-fpn_8xb8-lsj-100e_coco.

Published teacher instead of training one (the G2SD reference's teacher is
detectron2's ViTDet ViT-B Mask R-CNN, model id 325346929, 51.6 / 45.9 AP):

    D2=https://dl.fbaipublicfiles.com/detectron2/ViTDet/COCO
    wget $D2/mask_rcnn_vitdet_b/f325346929/model_final_61ccd1.pkl
    python tools/model_converters/vitdet_d2_to_mmdet.py model_final_61ccd1.pkl \
        checkpoints/vitdet_mask-rcnn_vit-b_d2-325346929_coco.pth --arch b
    tools/dist_train.sh configs/det/g2sd_vits_maskrcnn.py 8 --cfg-options \
        model.teacher_ckpt=checkpoints/vitdet_mask-rcnn_vit-b_d2-325346929_coco.pth

(URL pattern: ``dl.fbaipublicfiles.com/detectron2/ViTDet/COCO/<config>/f<model
id>/model_final_<hash>.pkl``.) A ViT-L teacher: set ``model.teacher.cfg_path``
to ``configs/det/vitdet_mask-rcnn_vit-l-mae_simple-fpn_8xb8-lsj-100e_coco.py``
and convert ``mask_rcnn_vitdet_l`` (f325599698/model_final_6146ed.pkl) with
``--arch l``. The G2SD reference's released detection students convert with
``--arch s`` (student-only config, ``stu_adapter`` dropped) or with
``--keep-adapters`` (this config's state dict: ``student.*`` + ``adapters.N``).
"""
_base_ = ['./vitdet_mask-rcnn_vit-s-g2sd_simple-fpn_8xb8-lsj-100e_coco.py']

teacher_ckpt = 'checkpoints/vitdet_mask-rcnn_vit-b-mae_lsj-100e_coco.pth'
model = dict(
    _delete_=True,
    type='DetectionDistiller',
    student=dict(cfg_path='configs/det/vitdet_mask-rcnn_vit-s-g2sd_simple-fpn_8xb8-lsj-100e_coco.py'),
    teacher=dict(cfg_path='configs/det/vitdet_mask-rcnn_vit-b-mae_simple-fpn_8xb8-lsj-100e_coco.py',
                 backbone=dict(init_cfg=None)),
    teacher_ckpt=teacher_ckpt,
    distill_loss=dict(type='FRSLoss', feat_weight=0.001, obj_weight=0.1),
    # the frozen teacher runs under bf16 autocast even in an fp32 run: its targets stay
    # within ~1% (tools/analysis/teacher_precision.py); None runs it in fp32
    teacher_autocast='bfloat16',
    warmup_iters=500)
optim_wrapper = dict(optimizer=dict(weight_decay=0.05))
