"""Demo G2SD detection distillation on the shapes data: the 64-d demo teacher
detector (``teacher_ckpt``) -> the 32-d student baseline model, FRS losses
(0.001 / 0.1) warmed up over 100 iterations; otherwise as the baseline."""
_base_ = ['./vitdet_mask-rcnn_vit-32d-g2sd_simple-fpn_1xb2-300it_shapes.py']

teacher_ckpt = 'work_dirs/demo/det_teacher/iter_450.pth'
model = dict(
    _delete_=True,
    type='DetectionDistiller',
    student=dict(cfg_path='configs/det/vitdet_mask-rcnn_vit-32d-g2sd_simple-fpn_1xb2-300it_shapes.py'),
    teacher=dict(cfg_path='configs/det/vitdet_mask-rcnn_vit-64d-mae_simple-fpn_1xb2-450it_shapes.py',
                 backbone=dict(init_cfg=None)),
    teacher_ckpt=teacher_ckpt,
    distill_loss=dict(type='FRSLoss', feat_weight=0.001, obj_weight=0.1),
    warmup_iters=100)
