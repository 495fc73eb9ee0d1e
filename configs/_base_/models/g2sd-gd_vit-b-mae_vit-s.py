"""G2SD stage-1 model: MAE ViT-B/16 teacher (with decoder) -> ViT-S/16 student.

Teacher: MAE ViT-B/16 encoder + 512d/8-block/16-head decoder; the target is the
output of decoder block ``target_layer`` (4 of 8) before the decoder norm, so
only 4 teacher decoder blocks are built and run.
Student: ViT-S/16 (384d, 12 blocks, 6 heads) + 256d/4-block/8-head decoder,
projected by an MLP 256 -> 512 -> 512 onto the teacher width.
Loss: Smooth-L1 (beta 2) to LayerNorm(teacher hidden) over all 197 tokens.
"""
model = dict(
    type='GenericDistiller',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    teacher=dict(
        type='MaskedAutoencoderViT', arch='base', img_size=224, patch_size=16,
        decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16),
    student=dict(
        type='MaskedAutoencoderViT', arch='small', img_size=224, patch_size=16,
        decoder_embed_dim=256, decoder_depth=4, decoder_num_heads=8),
    teacher_ckpt=None,
    target_layer=4,
    mask_ratio=0.75,
    projector_hidden=512,
    supervise='all',
    loss=dict(type='FeatureDistillLoss', criterion='smooth_l1', beta=2.0,
              norm_target=True, eps=1e-6))
