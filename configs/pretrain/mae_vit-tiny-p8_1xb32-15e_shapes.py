"""mmpretrain's own MAE on the shapes demo data: the tiny teacher for the demo.

A 64d/4-block ViT with patch 8 on 64-px images (64 patches) and a 64d/4-block
decoder. Its checkpoint is a *full* mmpretrain MAE checkpoint (backbone + neck)
that the g2sd_mm teacher loads directly.
"""
_base_ = [
    '../_base_/datasets/shapes-cls_mae.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)
model = dict(
    type='MAE',
    backbone=dict(
        type='MAEViT',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
        img_size=64, patch_size=8, mask_ratio=0.75),
    neck=dict(
        type='MAEPretrainDecoder', num_patches=64, patch_size=8, in_chans=3,
        embed_dim=64, decoder_embed_dim=64, decoder_depth=4, decoder_num_heads=4,
        mlp_ratio=4.),
    head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=8,
              loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=13, eta_min=1e-5, by_epoch=True, begin=2,
         end=15, convert_to_iter_based=True),
]
# exact resume (random states + sampler-level skip) and kill-safe checkpoints,
# see g2sd_mm/engine/random_state.py, resumable_loops.py, atomic_checkpoint.py
train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=15)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', interval=15, max_keep_ckpts=1))
custom_hooks = [dict(type='RandomStateHook')]
randomness = dict(seed=0)
