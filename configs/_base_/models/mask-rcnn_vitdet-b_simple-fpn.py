"""ViTDet-style Mask R-CNN: plain ViT-B/16 backbone (window attention, window 14,
global attention in blocks 3/6/9/12, decomposed relative positions, absolute
positions interpolated from 224), SimpleFPN (strides 4-64, 256 channels, LN),
RPN with 2 convs, 4conv1fc box head and mask head with LayerNorm."""
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)

norm_cfg = dict(type='LN2d', eps=1e-6, requires_grad=True)
model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='ViTDet',
        arch='base',
        img_size=1024,
        pretrain_img_size=224,
        patch_size=16,
        window_size=14,
        global_attn_indexes=(2, 5, 8, 11),
        use_rel_pos=True,
        drop_path_rate=0.1),
    neck=dict(
        _delete_=True,
        type='SimpleFPN',
        backbone_channel=768,
        in_channels=[192, 384, 768, 768],
        out_channels=256,
        num_outs=5,
        norm_cfg=norm_cfg),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
