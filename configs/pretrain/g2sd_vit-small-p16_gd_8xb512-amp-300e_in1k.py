"""G2SD generic distillation, MAE ViT-B/16 -> ViT-S/16, ImageNet-1k, 300 epochs.

Recipe (G2SD, CVPR 2023): 8 GPUs x 512 = total batch 4096, AdamW (0.9, 0.95),
lr 2.4e-3 (1.5e-4 per 256), wd 0.05 without decay on norms and biases,
10 warm-up epochs, cosine to 2.5e-6, fp16 AMP, RandomResizedCrop 224
(scale 0.2-1.0, bicubic) + flip, mask ratio 0.75 shared by teacher and student.

With fewer GPUs keep the total batch with gradient accumulation, e.g. 4 GPUs:
``--cfg-options optim_wrapper.accumulative_counts=2``.

``teacher_ckpt`` must be a *full* MAE checkpoint (encoder + decoder). The
default is the one G2SD used: the official ``mae_pretrain_vit_base_full.pth``
(ViT-B/16, 1600 epochs, normalised-pixel loss; the reference's
``mae_base-1599.pth`` with ``GD.sh --norm_pix_loss``). The official
``mae_visualize_vit_base.pth`` also loads, but it was trained on raw pixels
for visualisation, so its decoder hidden states (the distillation target)
differ; an mmpretrain MAE pretraining checkpoint loads too. An encoder-only
file (``mae_pretrain_vit_base.pth``) is refused.
"""
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs512_mae.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/models/g2sd-gd_vit-b-mae_vit-s.py',
    '../_base_/schedules/g2sd-gd_adamw-coslr_300e.py',
]
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)

teacher_ckpt = 'checkpoints/mae_pretrain_vit_base_full.pth'
model = dict(teacher_ckpt=teacher_ckpt)

train_dataloader = dict(batch_size=512, num_workers=8)
# fp16 AMP as published (mmengine's AmpOptimWrapper on GPUs; bf16 autocast on
# a CPU). ``optim_wrapper.dtype='bfloat16'`` selects bf16 on GPUs too. The loss
# itself is always computed in fp32.
optim_wrapper = dict(type='AnyDeviceAmpOptimWrapper', loss_scale='dynamic')
# exact resume (random states + sampler-level skip) and kill-safe checkpoints,
# see g2sd_mm/engine/random_state.py, resumable_loops.py, atomic_checkpoint.py
train_cfg = dict(type='ExactResumeEpochBasedTrainLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='AtomicCheckpointHook', interval=10, max_keep_ckpts=3))
custom_hooks = [dict(type='RandomStateHook')]
randomness = dict(seed=0, diff_rank_seed=True)
