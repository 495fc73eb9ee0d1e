"""The G2SD classification student: ViT-S/16 with a distillation token.

A plain mmpretrain ``ImageClassifier``: :class:`G2SDDistilledViT` (mmpretrain's
``DistilledVisionTransformer`` with strict loading of the stage-1 export; the
distillation token and its position slot start as copies of the class
token's) and ``DeiTClsHead`` (one linear head per token; at inference the two
are averaged). It is the student of ``g2sd_vits_cls.py`` and the config to
test its extracted student (``tools/model_converters/extract_student.py``)
with ``tools/test.py``. Alone it is not trained: ``DeiTClsHead`` needs the
teacher for its second head.
"""
_base_ = ['./vit-small-p16_g2sd-gd_8xb128-amp-200e_in1k.py']

model = dict(
    backbone=dict(type='G2SDDistilledViT'),
    head=dict(_delete_=True, type='DeiTClsHead', num_classes=1000, in_channels=384,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]))
