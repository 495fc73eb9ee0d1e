"""Labelled classification on the embedded shapes demo data (4 classes,
64 px; ``make demo`` or ``tools/misc/make_shapes_data.py``), with the G2SD
ImageNet augmentations scaled to 64 px: RandomResizedCrop + flip,
RandAugment m9-mstd0.5, random erasing 0.25; evaluation resizes the short
side to 73 (= 64 * 256 / 224) and centre-crops 64."""
data_root = 'data/shapes/cls/'
img_size = 64
metainfo = dict(classes=('circle', 'square', 'triangle', 'star'))  # meta/classes.txt
data_preprocessor = dict(
    num_classes=4,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
bgr_mean = data_preprocessor['mean'][::-1]
bgr_std = data_preprocessor['std'][::-1]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.35, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=bgr_mean, fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=73, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CheckedCustomDataset', data_root=data_root, ann_file='meta/train.txt',
                 data_prefix='train', metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CheckedCustomDataset', data_root=data_root, ann_file='meta/val.txt',
                 data_prefix='val', metainfo=metainfo, pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
