"""Semantic segmentation on the embedded shapes demo data (128 px, 5 classes
with background 0, so no ``reduce_zero_label``).

Written by ``tools/misc/make_shapes_data.py`` into ``data/shapes/seg``.
Override ``data_root`` consistently with
``--cfg-options train_dataloader.dataset.data_root=... val_dataloader.dataset.data_root=...
test_dataloader.dataset.data_root=...``
"""
dataset_type = 'CheckedBaseSegDataset'
data_root = 'data/shapes/seg/'
metainfo = dict(
    classes=('background', 'circle', 'square', 'triangle', 'star'),
    palette=[[0, 0, 0], [220, 20, 60], [0, 130, 230], [250, 170, 30], [60, 180, 75]])
crop_size = (128, 128)
load_annotations = dict(type='CheckedLoadSegAnnotations', num_classes=5)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    load_annotations,
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    load_annotations,
    dict(type='PackSegInputs'),
]
common = dict(type=dataset_type, data_root=data_root, metainfo=metainfo, img_suffix='.png',
              seg_map_suffix='.png', reduce_zero_label=False)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**common, pipeline=train_pipeline,
                 data_prefix=dict(img_path='images/train', seg_map_path='annotations/train')))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**common, pipeline=test_pipeline, test_mode=True,
                 data_prefix=dict(img_path='images/val', seg_map_path='annotations/val')))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
