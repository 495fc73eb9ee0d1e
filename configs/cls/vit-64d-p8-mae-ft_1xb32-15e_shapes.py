"""Demo classification teacher on the shapes data (CPU-sized): the tiny MAE of
``configs/pretrain/mae_vit-tiny-p8_1xb32-15e_shapes.py`` (64d, 4 blocks, patch
8) fine-tuned with the MAE recipe's model settings (global pool + ``ln2``,
layer decay 0.75, label smoothing 0.1) for 15 epochs in fp32, with mild
augmentation (see below). The teacher trains 1.5x as long as the 10-epoch
students, standing in for the longer schedule of a published teacher. Set the MAE checkpoint with
``--cfg-options model.backbone.init_cfg.checkpoint=PATH`` (``make demo`` does).
"""
_base_ = [
    '../_base_/datasets/shapes-cls.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/schedules/cls_adamw-ld-0.75_coslr_200e.py',
]
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)

pretrained = 'work_dirs/demo/mae_teacher/epoch_15.pth'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='G2SDViT',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
        img_size=64, patch_size=8, drop_path_rate=0.1, out_type='avg_featmap',
        final_norm=False, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=None,
    head=dict(
        type='LinearClsHead', num_classes=4, in_channels=64,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    train_cfg=None)

# the demo trains on a few thousand clean single-shape images: mild crops and
# flips only (RandAugment, random erasing and mixup / cutmix keep these small
# models from fitting the training set within the CPU budget)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 15
warmup_epochs = 1
# fp32: CPUs without native bf16 (AVX2 only) run bf16 autocast several times
# slower than fp32
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(num_layers=4, layer_decay_rate=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
# exact resume (random states + sampler-level skip) and kill-safe checkpoints:
# g2sd_mm/engine/random_state.py, resumable_loops.py, atomic_checkpoint.py
custom_hooks = [dict(type='RandomStateHook')]
