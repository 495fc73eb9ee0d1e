"""Convert MAE checkpoints between the official/timm and mmpretrain layouts.

    python tools/model_converters/mae_convert.py IN.pth OUT.pth --to official
    python tools/model_converters/mae_convert.py IN.pth OUT.pth --to mmpretrain

``--to official`` writes ``{'model': ...}`` as the MAE repository does;
``--to mmpretrain`` writes ``{'state_dict': {'backbone.*', 'neck.*'}}``.
g2sd_mm loads either layout directly, so this is only needed to hand weights to
other code bases.

Inputs are read with ``weights_only=True``: a file holding pickled objects
other than tensors is refused unless ``--trust-pickle`` is given. The output is
written atomically: a failed write leaves an existing OUT.pth untouched.
"""
import argparse

from g2sd_mm.checkpoint import (add_trust_pickle_argument, atomic_save, official_to_mmpretrain,
                                read_mae_checkpoint)


def main():
    parser = argparse.ArgumentParser(description='MAE checkpoint layout converter')
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--to', choices=['official', 'mmpretrain'], required=True)
    add_trust_pickle_argument(parser)
    args = parser.parse_args()
    state, projector, layout = read_mae_checkpoint(args.src, trust_pickle=args.trust_pickle)
    if projector:
        print(f'note: dropping {len(projector)} projector tensors (not part of MAE)')
    if args.to == 'official':
        atomic_save(dict(model=state), args.dst)
    else:
        atomic_save(dict(state_dict=official_to_mmpretrain(state)), args.dst)
    print(f'{args.src} ({layout} layout, {len(state)} tensors) -> {args.dst} ({args.to})')


if __name__ == '__main__':
    main()
