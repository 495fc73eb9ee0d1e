"""The G2SD classification student: ViT-S/16 with a distillation token.

An mmpretrain ``ImageClassifier`` with g2sd_mm's :class:`G2SDDistilledViT`
(the reference implementation's token layout: ``[cls, patches..., dist]``,
the distillation token without a position entry, fresh truncated-normal init;
strict loading of the stage-1 export) and :class:`G2SDDistilledClsHead` (one
linear head per token; ``head`` starts at std 2e-5, ``head_dist`` at std 0.02
as in the reference; inference averages the two). Drop path 0, as the
reference's specific-distillation run (``SD.sh``: ``--drop_path 0.``); the
student-only baseline keeps 0.1. It is the student of ``g2sd_vits_cls.py``
and the config to test its extracted student
(``tools/model_converters/extract_student.py``) with ``tools/test.py``; for a
student trained with the NKD option add
``--cfg-options model.head.eval_heads=cls``. Alone it is not trained: the
distillation head needs the teacher.
"""
_base_ = ['./vit-small-p16_g2sd-gd_8xb128-amp-200e_in1k.py']

model = dict(
    backbone=dict(type='G2SDDistilledViT', drop_path_rate=0.0),
    head=dict(_delete_=True, type='G2SDDistilledClsHead', num_classes=1000, in_channels=384,
              eval_heads='average', dist_init_std=0.02,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]))
