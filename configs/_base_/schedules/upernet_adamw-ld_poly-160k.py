"""BEiT/MAE/G2SD segmentation schedule: 160k iterations at total batch 16,
AdamW lr 1e-4, wd 0.05, layer-wise lr decay 0.65 over 12 blocks, poly decay
(power 1) to 0 counted from iteration 0 with a linear warm-up factor over the
first 1,500 iterations, AMP.

As the reference (mmseg 0.x ``lr_config=dict(policy='poly', warmup='linear',
warmup_iters=1500, warmup_ratio=1e-6)``): lr(t) = 1e-4 * (1 - t / 160000) *
(1e-6 + (1 - 1e-6) * min(t / 1500, 1)); the two schedulers overlap and
multiply. Weight decay as the reference's layer-decay constructor: none on
1-D tensors (norms, biases, layer scale) and ``*.bias``; the position table,
class token and relative-position tables are decayed (its exemption list
names ``pos_embed`` / ``cls_token`` without the ``backbone.`` prefix, so it
never matches)."""
max_iters = 160000
optim_wrapper = dict(
    type='AnyDeviceAmpOptimWrapper',
    loss_scale='dynamic',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.65, no_decay_names=[]))
# ``end`` is one past the last step: mmengine reaches the final factor at
# ``end - 1``, mmcv 0.x's warm-up and poly count to ``warmup_iters`` / ``max_iters``
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500 + 1),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=0, end=max_iters + 1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=16000, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
# lr above is for a total batch of 16 (8 GPUs x 2)
auto_scale_lr = dict(base_batch_size=16)
