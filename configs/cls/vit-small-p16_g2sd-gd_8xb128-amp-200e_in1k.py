"""Student-only baseline: ViT-S/16 initialised from the G2SD stage-1 student,
fine-tuned on ImageNet-1k with labels only (no task distillation).

``pretrained`` is the ``*_backbone.pth`` written by
``tools/model_converters/g2sd_gd_export.py``; it loads strictly
(:class:`G2SDViT`). Class-token classifier with the G2SD recipe: 200 epochs,
total batch 1024 (8 x 128), AdamW lr 4e-3, wd 0.05, layer decay 0.75, 5 warm-up
epochs, drop path 0.1, RandAugment m9-mstd0.5, mixup 0.8 / cutmix 1.0, label
smoothing 0.1, random erasing 0.25, resize 256 / centre crop 224 for
evaluation, AMP. ImageNet at ``data/imagenet`` (mmpretrain's layout).
"""
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/schedules/cls_adamw-ld-0.75_coslr_200e.py',
]
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)

pretrained = 'checkpoints/g2sd_vit-small-p16_gd_backbone.pth'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='G2SDViT', arch='deit-small', img_size=224, patch_size=16, drop_path_rate=0.1,
        out_type='cls_token', final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead', num_classes=1000, in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=128, num_workers=8)
val_dataloader = dict(batch_size=128, num_workers=8)
test_dataloader = val_dataloader
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
# exact resume (random states + sampler-level skip) and kill-safe checkpoints:
# g2sd_mm/engine/random_state.py, resumable_loops.py, atomic_checkpoint.py
custom_hooks = [dict(type='RandomStateHook')]
