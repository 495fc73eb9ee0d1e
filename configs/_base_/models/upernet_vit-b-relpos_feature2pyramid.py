"""UperNet on a plain ViT-B/16 (BEiT/MAE segmentation setting of G2SD):
``ViTRelPos`` backbone with per-block relative position bias and layer scale
(init 1.0), drop path 0.1, outputs after blocks 4/6/8/12; mmseg's
Feature2Pyramid neck (rescales 4, 2, 1, 0.5 -> strides 4-32); UPerHead with
channels = embed dim (768) and an FCN auxiliary head on the stride-16 level
(weight 0.4); 150 ADE20K classes; sliding-window test (512 crops, stride 341)."""
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
embed_dim = 768
# The preprocessor lives inside ``model`` only: a top-level ``data_preprocessor``
# would be injected by the runner into models without one (e.g. a distiller
# that shares its student's), with this file's 512 crop size.
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(512, 512)),
    backbone=dict(
        type='ViTRelPos',
        arch='base',
        img_size=(512, 512),
        patch_size=16,
        out_indices=(3, 5, 7, 11),
        drop_path_rate=0.1,
        layer_scale_init_value=1.0,
        use_rel_pos_bias=True),
    neck=dict(type='Feature2Pyramid', embed_dim=embed_dim, rescales=[4, 2, 1, 0.5],
              norm_cfg=norm_cfg),
    decode_head=dict(
        type='UPerHead',
        in_channels=[embed_dim] * 4,
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=embed_dim,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=embed_dim,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
