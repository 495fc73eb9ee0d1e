"""ADE20K (150 classes, ``data/ade/ADEChallengeData2016``) with 512x512 crops.

mmseg's dataset config, with label maps read by ``CheckedLoadSegAnnotations``
(``reduce_zero_label=True``; a label outside 0..149 / 255 raises, naming the
file; configs using this file import ``g2sd_mm``). 2 images per GPU for
training (total batch 16 on 8 GPUs), 1 for testing.
"""
_base_ = 'mmseg::_base_/datasets/ade20k.py'
crop_size = (512, 512)
load_annotations = dict(type='CheckedLoadSegAnnotations', reduce_zero_label=True,
                        num_classes=150)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    load_annotations,
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    load_annotations,
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
