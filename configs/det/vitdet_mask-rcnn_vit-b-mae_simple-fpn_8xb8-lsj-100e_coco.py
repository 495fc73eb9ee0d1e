"""Teacher: ViTDet-style Mask R-CNN, ViT-B/16 from MAE, LSJ 1024, 100 epochs.

Backbone initialised from the official encoder-only MAE checkpoint
(``mae_pretrain_vit_base.pth``; relative-position tables start at zero).
Reference: ViTDet ViT-B Mask R-CNN, 51.6 box AP / 45.9 mask AP. Its final
checkpoint is the ``teacher_ckpt`` of ``g2sd_vits_maskrcnn.py``.

The model has the structure of detectron2's ``mask_rcnn_vitdet_b_100ep``
(same modules, LayerNorm eps, anchors, box coders, RGB input with the same
mean/std, images padded to 1024 x 1024 with 0 after normalisation), so the
published model (detectron2 model zoo, model id 325346929,
``https://dl.fbaipublicfiles.com/detectron2/ViTDet/COCO/`` +
``mask_rcnn_vitdet_b/f325346929/model_final_61ccd1.pkl``)
converts to it and can replace training it:

    python tools/model_converters/vitdet_d2_to_mmdet.py model_final_61ccd1.pkl \
        checkpoints/vitdet_mask-rcnn_vit-b_d2-325346929_coco.pth --arch b
    tools/dist_test.sh THIS_CONFIG checkpoints/vitdet_mask-rcnn_vit-b_d2-325346929_coco.pth 8
"""
_base_ = [
    '../_base_/models/mask-rcnn_vitdet-b_simple-fpn.py',
    '../_base_/datasets/coco-instance_lsj-1024.py',
    '../_base_/schedules/vitdet_adamw-ld_lsj-100e.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)

pretrained = 'checkpoints/mae_pretrain_vit_base.pth'
model = dict(
    # pad to a 1024 square after normalisation (with 0), as detectron2's square_pad
    data_preprocessor=dict(pad_size_divisor=1024),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
# exact resume (random states + sampler-level skip) and kill-safe checkpoints,
# see g2sd_mm/engine/random_state.py, resumable_loops.py, atomic_checkpoint.py
train_cfg = dict(type='ExactResumeIterBasedTrainLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=5000,
                    max_keep_ckpts=2))
custom_hooks = [dict(type='RandomStateHook')]
log_processor = dict(by_epoch=False)
