"""Demo G2SD classification distillation on the shapes data: the 64-d demo
teacher classifier (``teacher_ckpt``) -> the 32-d distillation-token student,
hard distillation (1/2 CE labels + 1/2 CE teacher top-1); otherwise as the
student-only baseline. ``make demo`` sets ``teacher_ckpt`` and the student's
backbone initialisation."""
_base_ = ['./vit-32d-p8-distilled_g2sd-gd_1xb32-10e_shapes.py']

teacher_ckpt = 'work_dirs/demo/cls_teacher/epoch_15.pth'
model = dict(
    _delete_=True,
    type='ClassificationDistiller',
    student=dict(cfg_path='configs/cls/vit-32d-p8-distilled_g2sd-gd_1xb32-10e_shapes.py'),
    teacher=dict(cfg_path='configs/cls/vit-64d-p8-mae-ft_1xb32-15e_shapes.py',
                 backbone=dict(init_cfg=None)),
    teacher_ckpt=teacher_ckpt,
    distill_loss=dict(type='HardDistillLoss'),
    distill_weight=0.5,
    # None: the student's own ClsDataPreprocessor (normalisation + mixup/cutmix)
    # prepares the batch for both models; the top-level one is not used
    data_preprocessor=None)
