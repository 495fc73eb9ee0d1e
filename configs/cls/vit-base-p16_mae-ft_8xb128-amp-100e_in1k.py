"""Teacher: MAE ViT-B/16 fine-tuned on ImageNet-1k (the G2SD classification
teacher, 83.6 top-1), in mmpretrain's MAE fine-tuning recipe.

Global average pooling with its own norm (``out_type='avg_featmap'``,
``final_norm=False``; MAE's ``fc_norm`` is ``backbone.ln2``), linear head.
Recipe: 100 epochs, total batch 1024 (8 x 128), AdamW lr 2e-3, layer decay
0.65, drop path 0.1, RandAugment m9-mstd0.5, mixup 0.8 / cutmix 1.0, label
smoothing 0.1, random erasing 0.25, AMP.

Use it (1) to fine-tune the teacher from a MAE checkpoint (``pretrained``),
(2) as ``teacher=dict(cfg_path=...)`` of ``g2sd_vit{s,t}_cls.py`` and (3) to
test a teacher checkpoint with ``tools/test.py``. The official fine-tuned
weights (``mae_finetuned_vit_base.pth``, keys ``blocks.*``, ``fc_norm``,
``head``) are accepted as ``teacher_ckpt`` directly.
"""
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/schedules/cls_adamw-ld-0.75_coslr_200e.py',
]
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)

pretrained = 'checkpoints/mae_pretrain_vit_base.pth'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='G2SDViT', arch='base', img_size=224, patch_size=16, drop_path_rate=0.1,
        out_type='avg_featmap', final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=None,
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=128, num_workers=8)
val_dataloader = dict(batch_size=128, num_workers=8)
test_dataloader = val_dataloader

max_epochs = 100
optim_wrapper = dict(optimizer=dict(lr=2e-3), paramwise_cfg=dict(layer_decay_rate=0.65))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min=1e-6, by_epoch=True,
         begin=5, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
# exact resume (random states + sampler-level skip) and kill-safe checkpoints:
# g2sd_mm/engine/random_state.py, resumable_loops.py, atomic_checkpoint.py
custom_hooks = [dict(type='RandomStateHook')]
