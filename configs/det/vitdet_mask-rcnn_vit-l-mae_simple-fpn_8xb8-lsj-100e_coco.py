"""Teacher: ViTDet-style Mask R-CNN, ViT-L/16 from MAE, LSJ 1024, 100 epochs.

As detectron2's ``projects/ViTDet/configs/COCO/mask_rcnn_vitdet_l_100ep.py``:
1024 d, 24 blocks, 16 heads, global attention in blocks 6/12/18/24 (0-based
5, 11, 17, 23), drop path 0.4, layer-wise lr decay 0.8 over 24 blocks; the rest
as the ViT-B config. Backbone initialised from ``mae_pretrain_vit_large.pth``.
Reference: ViTDet ViT-L Mask R-CNN, 55.5 box AP / 49.2 mask AP (detectron2
model zoo, model id 325599698). The published model converts to this config:

    python tools/model_converters/vitdet_d2_to_mmdet.py \\
        model_final_6146ed.pkl checkpoints/vitdet_mask-rcnn_vit-l_d2-325599698_coco.pth --arch l

and can then be the ``teacher_ckpt`` of a G2SD detection config whose teacher
is this file (e.g. ``g2sd_vits_maskrcnn.py`` with ``model.teacher.cfg_path``
set to it).
"""
_base_ = ['./vitdet_mask-rcnn_vit-b-mae_simple-fpn_8xb8-lsj-100e_coco.py']

pretrained = 'checkpoints/mae_pretrain_vit_large.pth'
model = dict(
    backbone=dict(arch='large', global_attn_indexes=(5, 11, 17, 23), drop_path_rate=0.4,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(backbone_channel=1024, in_channels=[256, 512, 1024, 1024]))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=24, layer_decay_rate=0.8))
