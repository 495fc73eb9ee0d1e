"""G2SD classification fine-tuning schedule (ImageNet-1k): 200 epochs, total
batch 1024, AdamW (0.9, 0.999) lr 4e-3 (1e-3 per 256), wd 0.05 (none on
norms, biases, class/distillation tokens and position table), layer-wise lr
decay 0.75 over 12 blocks, 5 linear warm-up epochs, cosine to 1e-6, AMP."""
max_epochs = 200
optim_wrapper = dict(
    type='AnyDeviceAmpOptimWrapper',
    loss_scale='dynamic',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3 * 1024 / 256, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min=1e-6, by_epoch=True,
         begin=5, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# lr above is for a total batch of 1024 (8 GPUs x 128)
auto_scale_lr = dict(base_batch_size=1024)
