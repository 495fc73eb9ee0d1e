"""Demo G2SD segmentation distillation on the shapes data: the 64-d demo
teacher segmentor (``teacher_ckpt``) -> the 32-d student baseline model, CWD
on the decode-head logits (tau 1.0, weight 3.0); otherwise as the baseline."""
_base_ = ['./upernet_vit-32d-g2sd_feature2pyramid_1xb4-400it_shapes.py']

teacher_ckpt = 'work_dirs/demo/seg_teacher/iter_600.pth'
model = dict(
    _delete_=True,
    type='SegmentationDistiller',
    student=dict(cfg_path='configs/seg/upernet_vit-32d-g2sd_feature2pyramid_1xb4-400it_shapes.py'),
    teacher=dict(cfg_path='configs/seg/upernet_vit-64d-mae_feature2pyramid_1xb4-600it_shapes.py',
                 backbone=dict(init_cfg=None)),
    teacher_ckpt=teacher_ckpt,
    distill_loss=dict(type='ChannelWiseDivergence', tau=1.0, loss_weight=3.0),
    warmup_iters=0)
