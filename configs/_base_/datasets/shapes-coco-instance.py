"""COCO-format instance segmentation on the embedded shapes demo data (128 px).

Written by ``tools/misc/make_shapes_data.py`` into ``data/shapes/coco``.
Override ``data_root`` consistently with
``--cfg-options train_dataloader.dataset.data_root=... val_dataloader.dataset.data_root=...
test_dataloader.dataset.data_root=... val_evaluator.ann_file=... test_evaluator.ann_file=...``
"""
dataset_type = 'CheckedCocoDataset'
data_root = 'data/shapes/coco/'
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'star'),
    palette=[(220, 20, 60), (0, 130, 230), (250, 170, 30), (60, 180, 75)])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, data_root=data_root, metainfo=metainfo,
        ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, metainfo=metainfo,
        ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
        test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val.json',
                     metric=['bbox', 'segm'], format_only=False)
test_evaluator = val_evaluator
