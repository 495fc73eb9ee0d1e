"""Teacher: UperNet on ViT-B/16 from MAE, ADE20K 512x512, 160k iterations.

Backbone with relative position bias and layer scale (init 1.0), initialised
from the official encoder-only MAE checkpoint (``mae_pretrain_vit_base.pth``;
relative-position tables start at zero, layer scale at 1, the absolute
position table is resampled from 224 to 512). Recipe: total batch 16 (8 GPUs
x 2), AdamW lr 1e-4, wd 0.05, layer decay 0.65, 1,500 warm-up iterations then
poly, drop path 0.1, AMP, sliding-window test (512, stride 341).
Reference: MAE ViT-B UperNet, 48.1 mIoU. Its final checkpoint is the
``teacher_ckpt`` of ``g2sd_vits_upernet.py``.

The model is structurally mmseg's stock ``mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py``
(same blocks, relative-position tables with their three class-token entries,
layer scale, no final norm, LayerNorm eps 1e-6, neck, heads and data
preprocessor), so mmseg's published weights (48.13 mIoU) test and teach here
after ``tools/model_converters/mmseg_mae_to_g2sd.py``; the G2SD reference's
mmseg 0.x ViT-B teachers after ``tools/model_converters/g2sd_reference_seg_to_g2sd.py``.
"""
_base_ = [
    '../_base_/models/upernet_vit-b-relpos_feature2pyramid.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/upernet_adamw-ld_poly-160k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['g2sd_mm'], allow_failed_imports=False)

pretrained = 'checkpoints/mae_pretrain_vit_base.pth'
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

# exact resume (random states + sampler-level skip) and kill-safe checkpoints,
# see g2sd_mm/engine/random_state.py, resumable_loops.py, atomic_checkpoint.py
train_cfg = dict(type='ExactResumeIterBasedTrainLoop')
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
custom_hooks = [dict(type='RandomStateHook')]
