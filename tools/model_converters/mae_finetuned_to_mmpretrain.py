"""Convert an official MAE fine-tuned ViT classifier to an mmpretrain checkpoint.

    python tools/model_converters/mae_finetuned_to_mmpretrain.py \
        mae_finetuned_vit_base.pth vit-base-p16_mae-ft_in1k.pth

The official release (``{'model': {'blocks.*', 'fc_norm.*', 'head.*', ...}}``)
becomes ``{'state_dict': {'backbone.*', 'head.fc.*'}}`` for
``configs/cls/vit-base-p16_mae-ft_8xb128-amp-100e_in1k.py``, so
``tools/test.py`` evaluates it (the distillation configs read the official file
directly as ``teacher_ckpt``). Every key is renamed or the conversion fails
naming it; the output is written atomically.
"""
import argparse
import sys

from g2sd_mm.checkpoint import (CheckpointError, atomic_save, official_classifier_to_mmpretrain,
                                state_dict_from_file)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='official MAE fine-tuned ViT -> mmpretrain')
    parser.add_argument('src')
    parser.add_argument('dst')
    args = parser.parse_args(argv)
    try:
        state = state_dict_from_file(args.src)
        if 'head.weight' not in state or not any(k.startswith('blocks.') for k in state):
            raise CheckpointError(f'{args.src}: not an official-layout ViT classifier (expected '
                                  f'blocks.* and head.weight; found {sorted(state)[:5]} ...)')
        converted = official_classifier_to_mmpretrain(state)
    except (CheckpointError, KeyError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    atomic_save(dict(state_dict=converted), args.dst)
    print(f'{args.src} ({len(state)} tensors) -> {args.dst} (mmpretrain ImageClassifier)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
