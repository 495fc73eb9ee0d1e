"""G2SD specific distillation for semantic segmentation: ViT-B UperNet teacher -> ViT-S.

    tools/dist_train.sh configs/seg/g2sd_vits_upernet.py 8

Student: the ViT-S baseline model (backbone from the stage-1 export); teacher:
the fine-tuned ViT-B UperNet (``teacher_ckpt``, loaded strictly; it runs
backbone + neck + decode head only, frozen, in eval mode, without autograd).

``teacher_ckpt`` is a checkpoint of the teacher config
``upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py``
(mmengine ``state_dict``, official ``model`` or a bare state dict; every key
of that model, nothing else, same shapes). Three ways to get one:

* download mmseg's MAE ViT-B UperNet (ADE20K 48.13 mIoU, model zoo
  ``upernet_mae-base_fp16_8x2_512x512_160k_ade20k_20220426_174752-f92a2975.pth``)
  and convert it (strict; logits equal to mmseg's own model up to fp32 rounding)::

      python tools/model_converters/mmseg_mae_to_g2sd.py \
          upernet_mae-base_fp16_8x2_512x512_160k_ade20k_20220426_174752-f92a2975.pth \
          checkpoints/upernet_vit-b-mae_8xb2-160k_ade20k-512x512.pth

* convert the G2SD reference's own ViT-B teacher (mmseg 0.x)::

      python tools/model_converters/g2sd_reference_seg_to_g2sd.py TEACHER.pth \
          checkpoints/upernet_vit-b-mae_8xb2-160k_ade20k-512x512.pth

* train it: ``tools/dist_train.sh
  configs/seg/upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py 8``
  and use its ``iter_160000.pth``.
Channel-wise distillation (CWD) on the decode-head logits (150 channels,
1/4 resolution): tau 1.0, weight 3.0 (the reference run script; its config
says 10), no warm-up. Recipe as the baselines (ADE20K 512x512, total batch 16
= 8 GPUs x 2, 160k iterations, AdamW 1e-4, wd 0.05, layer decay 0.65, poly
with 1,500 warm-up iterations, drop path 0.1, AMP). Validation/test run the
student only (sliding window, stride 341); extract it with
``tools/model_converters/extract_student.py`` and test it with the baseline
config. Name in the OpenMMLab scheme:
g2sd-sd_vit-b-mae_vit-s_upernet_8xb2-amp-160k_ade20k-512x512.
"""
_base_ = ['./upernet_vit-s-g2sd_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py']

teacher_ckpt = 'checkpoints/upernet_vit-b-mae_8xb2-160k_ade20k-512x512.pth'
model = dict(
    _delete_=True,
    type='SegmentationDistiller',
    student=dict(
        cfg_path='configs/seg/upernet_vit-s-g2sd_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py'),
    teacher=dict(
        cfg_path='configs/seg/upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py',
        backbone=dict(init_cfg=None)),
    teacher_ckpt=teacher_ckpt,
    distill_loss=dict(type='ChannelWiseDivergence', tau=1.0, loss_weight=3.0),
    # the frozen teacher runs under bf16 autocast even in an fp32 run: its targets stay
    # within ~1% (tools/analysis/teacher_precision.py); None runs it in fp32
    teacher_autocast='bfloat16',
    warmup_iters=0)
