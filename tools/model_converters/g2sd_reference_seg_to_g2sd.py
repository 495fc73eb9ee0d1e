"""Convert the G2SD reference's segmentation checkpoints (mmseg 0.x) into g2sd_mm UperNets.

    python tools/model_converters/g2sd_reference_seg_to_g2sd.py IN.pth OUT.pth \
        [--part student|teacher] [--config CFG]

Inputs: the reference's ADE20K UperNets with its BEiT-style ``MAE`` backbone
(``configs/mae/upernet_mae_{base,small,tiny}_12_512_slide_160k_ade20k.py``)
and its distillation checkpoints (``configs/distill/distill_cwd*.py``:
``student.*`` + ``teacher.*``; ``--part`` picks one, default ``student``).
The output config is chosen by backbone width unless ``--config`` is given:
ViT-B (768) ``upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py``
(a teacher: ``teacher_ckpt`` of ``g2sd_vit{s,t}_upernet.py``), ViT-S (384) and
ViT-T (192) the student-only ``upernet_vit-{s,t}-g2sd_*`` configs (test with
``tools/test.py CONFIG OUT.pth``).

Conversion is strict: every input key of the selected model is renamed,
passed through (heads) or is a checked relative-position index buffer, and
the result is loaded strictly into the config's model before it is written.

The input is read with ``weights_only=True``: a file holding pickled objects
other than tensors is refused unless ``--trust-pickle`` is given.
"""
import argparse
import os
import os.path as osp


from g2sd_mm.checkpoint.layouts.beit_mmseg0x import reference_seg_to_g2sd, select_part
from g2sd_mm.checkpoint.segmentor_target import check_segmentor_state
from g2sd_mm.checkpoint import add_trust_pickle_argument, atomic_save, state_dict_from_file


def main():
    parser = argparse.ArgumentParser(description='G2SD reference (mmseg 0.x) UperNet -> '
                                     'g2sd_mm UperNet')
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--part', choices=['student', 'teacher'],
                        help='model of a distillation checkpoint (default: student)')
    parser.add_argument('--config', help='g2sd_mm segmentation config the output must fit '
                        '(default: the UperNet config of the backbone width)')
    add_trust_pickle_argument(parser)
    args = parser.parse_args()
    state = state_dict_from_file(args.src, trust_pickle=args.trust_pickle)
    model = select_part(state, args.part, source=args.src)
    converted = reference_seg_to_g2sd(model, source=args.src)
    config = check_segmentor_state(converted, args.config, source=args.src)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    atomic_save(dict(state_dict=converted,
                    meta=dict(source=osp.abspath(args.src), part=args.part,
                              layout='G2SD reference mmseg 0.x MAE UperNet', config=config)),
               args.dst)
    print(f'{args.src} ({len(model)} tensors{", " + args.part if args.part else ""}) -> '
          f'{args.dst} ({len(converted)} tensors, fits {config})')


if __name__ == '__main__':
    main()
