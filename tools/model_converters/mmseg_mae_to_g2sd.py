"""Convert an mmseg 1.x MAE UperNet checkpoint into g2sd_mm's ViT-B UperNet.

    python tools/model_converters/mmseg_mae_to_g2sd.py IN.pth OUT.pth [--config CFG]

For mmseg's model zoo ``upernet_mae-base_fp16_8x2_512x512_160k_ade20k_20220426_174752-f92a2975.pth``
(stock config ``mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py``,
48.13 mIoU on ADE20K). The output ``{'state_dict': ..., 'meta': ...}`` is the
``teacher_ckpt`` of ``configs/seg/g2sd_vit{s,t}_upernet.py`` and tests with
``configs/seg/upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py``.

Conversion is strict: every input key is renamed, passed through (neck and
heads) or is a checked relative-position index buffer; the result is loaded
strictly into the model of ``--config`` (default: by backbone width) before it
is written. Keys without a mapping are named and nothing is written.

The input is read with ``weights_only=True``: a file holding pickled objects
other than tensors is refused unless ``--trust-pickle`` is given.
"""
import argparse
import os
import os.path as osp


from g2sd_mm.checkpoint.layouts.mmseg import mmseg_mae_to_g2sd
from g2sd_mm.checkpoint.segmentor_target import check_segmentor_state
from g2sd_mm.checkpoint import add_trust_pickle_argument, atomic_save, state_dict_from_file


def main():
    parser = argparse.ArgumentParser(description='mmseg MAE UperNet -> g2sd_mm UperNet')
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--config', help='g2sd_mm segmentation config the output must fit '
                        '(default: the UperNet config of the backbone width)')
    add_trust_pickle_argument(parser)
    args = parser.parse_args()
    state = state_dict_from_file(args.src, trust_pickle=args.trust_pickle)
    converted = mmseg_mae_to_g2sd(state, source=args.src)
    config = check_segmentor_state(converted, args.config, source=args.src)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    atomic_save(dict(state_dict=converted,
                    meta=dict(source=osp.abspath(args.src), layout='mmseg MAE UperNet',
                              config=config)), args.dst)
    print(f'{args.src} ({len(state)} tensors, mmseg MAE layout) -> {args.dst} '
          f'({len(converted)} tensors, fits {config})')


if __name__ == '__main__':
    main()
