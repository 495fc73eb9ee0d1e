"""G2SD generic distillation on the shapes demo data (CPU-sized).

Teacher: the tiny MAE of ``mae_vit-tiny-p8_1xb32-15e_shapes.py`` (64d, 4+4
blocks, patch 8, 64 px), target after decoder block 2. Student: 32d/4-block
ViT with a 32d/2-block decoder and a 32 -> 64 -> 64 projection MLP. Everything
else (shared 75% mask, LN targets, Smooth-L1 beta 2, AdamW + warm-up + cosine)
follows the ImageNet recipe. Set the teacher with
``--cfg-options model.teacher_ckpt=PATH`` (``make demo`` does).
"""
_base_ = [
    '../_base_/datasets/shapes-cls_mae.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/models/g2sd-gd_vit-b-mae_vit-s.py',
    '../_base_/schedules/g2sd-gd_adamw-coslr_300e.py',
]
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)

model = dict(
    teacher=dict(
        arch=dict(_delete_=True, embed_dim=64, depth=4, num_heads=4), img_size=64, patch_size=8,
        decoder_embed_dim=64, decoder_depth=4, decoder_num_heads=4),
    student=dict(
        arch=dict(_delete_=True, embed_dim=32, depth=4, num_heads=2), img_size=64, patch_size=8,
        decoder_embed_dim=32, decoder_depth=2, decoder_num_heads=2),
    teacher_ckpt='work_dirs/demo/mae_teacher/epoch_15.pth',
    target_layer=2,
    projector_hidden=64)

max_epochs = 8
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True),
]
# exact resume (random states + sampler-level skip) and kill-safe checkpoints,
# see g2sd_mm/engine/random_state.py, resumable_loops.py, atomic_checkpoint.py
train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', interval=max_epochs, max_keep_ckpts=2))
custom_hooks = [dict(type='RandomStateHook')]
randomness = dict(seed=0)
