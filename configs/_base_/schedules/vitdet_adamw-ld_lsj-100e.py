"""ViTDet / G2SD detection schedule: 184,375 iterations (~100 COCO epochs at total
batch 64), AdamW lr 1e-4, wd 0.1, layer-wise lr decay 0.7 over 12 blocks,
250 linear warm-up iterations, lr x0.1 at 163,889 and 177,546, AMP.

Weight decay as detectron2's ViTDet configs (and the G2SD reference): none on
normalisation layers and the position table; biases and the relative-position
tables are decayed."""
max_iters = 184375
optim_wrapper = dict(
    type='AnyDeviceAmpOptimWrapper',
    loss_scale='dynamic',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.7, bias_decay=True,
                       no_decay_names=['pos_embed']))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[163889, 177546], gamma=0.1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# lr above is for a total batch of 64 (8 GPUs x 8)
auto_scale_lr = dict(base_batch_size=64)
