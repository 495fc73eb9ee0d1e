"""Demo teacher detector: ViTDet-style Mask R-CNN with the tiny MAE teacher of
the stage-1 demo (64 d, 4 blocks, patch 8) on the shapes data, CPU-sized.

Patch 8 makes the SimpleFPN strides 2/4/8/16/32. The backbone starts from the
MAE checkpoint (``pretrained``; ``make demo`` passes the real path).
"""
_base_ = [
    '../_base_/models/mask-rcnn_vitdet-b_simple-fpn.py',
    '../_base_/datasets/shapes-coco-instance.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)

pretrained = 'work_dirs/demo/mae_teacher/epoch_15.pth'
strides = [2, 4, 8, 16, 32]
ch = 32
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dim=64, depth=4, num_heads=4), img_size=128,
        pretrain_img_size=64, patch_size=8, window_size=8, global_attn_indexes=(1, 3),
        drop_path_rate=0.0, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    # no LayerNorm in the pyramid: with 32 channels, a per-position LN scales the flat
    # background up to the objects' magnitude, and within the demo's few hundred
    # iterations the RoI heads then never learn (RoI accuracy stays at the share of
    # background RoIs, 0.1 box AP); without it the teacher reaches ~39 box AP
    neck=dict(backbone_channel=64, in_channels=[16, 32, 64, 64], out_channels=ch,
              norm_cfg=None),
    rpn_head=dict(
        in_channels=ch, feat_channels=ch,
        anchor_generator=dict(scales=[4], strides=strides)),
    roi_head=dict(
        # RoIAlign with 2x2 samples per bin (not the adaptive count): mmcv's CPU kernel
        # otherwise dominates the step on the stride-2 level
        bbox_roi_extractor=dict(roi_layer=dict(sampling_ratio=2), out_channels=ch,
                                featmap_strides=strides[:4]),
        # lighter heads than the COCO recipe (2-fc box head, 2-conv mask head, no
        # norms): they converge within the few hundred CPU iterations of the demo
        bbox_head=dict(type='Shared2FCBBoxHead', _delete_=True, in_channels=ch,
                       fc_out_channels=128, roi_feat_size=7, num_classes=4,
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                                       target_stds=[0.1, 0.1, 0.2, 0.2]),
                       reg_class_agnostic=False,
                       loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                     loss_weight=1.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        mask_roi_extractor=dict(roi_layer=dict(sampling_ratio=2), out_channels=ch,
                                featmap_strides=strides[:4]),
        mask_head=dict(num_convs=2, in_channels=ch, conv_out_channels=ch, num_classes=4,
                       norm_cfg=None)),
    # 1-4 objects per scene: 100 proposals and 64 sampled RoIs per image are plenty
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=50), rcnn=dict(max_per_img=10)))

# CPU-sized schedule: SGD converges in fewer steps than the AdamW recipe here
max_iters = 450
train_dataloader = dict(batch_size=2)
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(num_layers=4, layer_decay_rate=0.9),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[int(max_iters * 0.75)], gamma=0.1),
]
# exact resume (random states + sampler-level skip) and kill-safe checkpoints,
# see g2sd_mm/engine/random_state.py, resumable_loops.py, atomic_checkpoint.py
train_cfg = dict(type='ExactResumeIterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=max_iters,
                    max_keep_ckpts=1))
custom_hooks = [dict(type='RandomStateHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
