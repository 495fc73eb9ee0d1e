"""G2SD stage-1 schedule: AdamW (0.9, 0.95), lr 1.5e-4 x 4096 / 256, wd 0.05
(not on norms and biases), 10 linear warm-up epochs, cosine to 2.5e-6 at
epoch 300 (fp32; the ImageNet configs switch on AMP)."""
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95),
                   weight_decay=0.05),
    # as the reference (timm ``add_weight_decay``): no decay on 1-D tensors
    # (norms) and biases; the class and mask tokens are decayed; the sin-cos
    # position tables are frozen
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=290, eta_min=2.5e-6, by_epoch=True,
         begin=10, end=300, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
# the lr above is for a total batch of 4096; --auto-scale-lr rescales it
auto_scale_lr = dict(base_batch_size=4096)
