"""Export the student of a G2SD stage-1 checkpoint for downstream training.

    python tools/model_converters/g2sd_gd_export.py STAGE1.pth OUT_PREFIX [--trust-pickle]

Writes
  OUT_PREFIX_backbone.pth  {'state_dict': {'backbone.*': ...}} in mmpretrain's
                           VisionTransformer layout (final norm = ``ln1``): the
                           backbone initialisation of the stage-2 students
                           (``init_cfg=dict(type='Pretrained', checkpoint=...,
                           prefix='backbone.')``);
  OUT_PREFIX_timm.pth      a timm ViT state dict (``vit_small_patch16_224`` /
                           ``vit_tiny_patch16_224`` with ``num_classes=0``).

Accepts g2sd_mm stage-1 checkpoints and the G2SD reference implementation's
released stage-1 students.

The input is read with ``weights_only=True``: a file holding pickled objects
other than tensors is refused unless ``--trust-pickle`` is given. Each output
is written atomically: a failed write leaves an existing file untouched.
"""
import argparse
import os.path as osp

from g2sd_mm.checkpoint import (add_trust_pickle_argument, atomic_save,
                                encoder_to_mmpretrain_backbone, student_encoder_state)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('checkpoint', help='stage-1 checkpoint')
    parser.add_argument('out_prefix', help='output path prefix, e.g. work_dirs/gd/vit-s')
    add_trust_pickle_argument(parser)
    args = parser.parse_args()
    encoder = student_encoder_state(args.checkpoint, trust_pickle=args.trust_pickle)
    backbone = encoder_to_mmpretrain_backbone(encoder)
    meta = dict(source=osp.abspath(args.checkpoint), layout='mmpretrain VisionTransformer')
    atomic_save(dict(state_dict=backbone, meta=meta), args.out_prefix + '_backbone.pth')
    atomic_save(encoder, args.out_prefix + '_timm.pth')
    n = sum(v.numel() for v in encoder.values())
    print(f'student encoder: {len(encoder)} tensors, {n / 1e6:.2f}M values')
    print(f'wrote {args.out_prefix}_backbone.pth and {args.out_prefix}_timm.pth')


if __name__ == '__main__':
    main()
