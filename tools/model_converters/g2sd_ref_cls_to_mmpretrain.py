"""Convert a G2SD reference classification student into g2sd_mm's distilled student.

    python tools/model_converters/g2sd_ref_cls_to_mmpretrain.py IN.pth OUT.pth \
        [--arch deit-small|deit-tiny] [--trust-pickle]

IN is a stage-2 checkpoint of the reference implementation (``G2SD/models_vit.py``
with a distillation token; ``{'model': ...}`` as its ``main_finetune_dis.py``
saves it). OUT (``{'state_dict': ..., 'meta': ...}``) loads with no missing or
unexpected key into ``configs/cls/vit-{small,tiny}-p16-distilled_g2sd-gd_*.py``
and gives the reference's logits, e.g.

    tools/test.py configs/cls/vit-small-p16-distilled_g2sd-gd_8xb128-amp-200e_in1k.py OUT.pth

(averaged heads; a student trained with ``--enable_nkd`` is evaluated by its
class-token head: add ``--cfg-options model.head.eval_heads=cls``).

Strict: every key of IN must map, the result is loaded into the ``--arch``
model before it is written, and a key left over, missing, or of the wrong
shape (another width, depth or class count) is an error naming IN.

The reference saves its command-line arguments (an ``argparse.Namespace``)
in the checkpoint, so ``torch.load(weights_only=True)`` refuses it: pass
``--trust-pickle`` for a file from a source you trust.
"""
import argparse
import os
import os.path as osp

from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import g2sd_mm  # noqa: F401  (registers the backbone and head)
from g2sd_mm.checkpoint.layouts.g2sd_reference_cls import reference_cls_to_mmpretrain
from g2sd_mm.checkpoint import (CheckpointError, add_trust_pickle_argument, atomic_save,
                                state_dict_from_file, state_dict_problems)


def build_student(arch: str, num_classes: int, img_size: int = 224):
    """The distilled student classifier of ``configs/cls`` (no initialisation)."""
    init_default_scope('mmpretrain')
    return MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='G2SDDistilledViT', arch=arch, img_size=img_size, patch_size=16,
                      out_type='cls_token', final_norm=True),
        neck=None,
        head=dict(type='G2SDDistilledClsHead', num_classes=num_classes,
                  in_channels=MODELS.get('G2SDDistilledViT').arch_zoo[arch]['embed_dims'])))


def convert(path: str, arch: str, trust_pickle: bool = False) -> dict:
    """Read, rename and check one reference student; returns the state dict."""
    state = reference_cls_to_mmpretrain(state_dict_from_file(path, trust_pickle=trust_pickle),
                                        source=path)
    num_classes = state['head.layers.head.weight'].shape[0]
    grid = state['backbone.pos_embed'].shape[1] - 1
    side = int(round(grid ** 0.5))
    if side * side != grid:
        raise CheckpointError(f'{path}: pos_embed has {grid + 1} entries, not 1 + a square grid')
    model = build_student(arch, num_classes, img_size=16 * side)
    own = {k: v for k, v in model.state_dict().items() if not k.startswith('data_preprocessor.')}
    problems = state_dict_problems(own, state, limit=12)
    if problems:
        raise CheckpointError(f'{path}: does not fit G2SDDistilledViT arch={arch!r} '
                              f'({num_classes} classes): ' + ' | '.join(problems))
    return state


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='reference stage-2 classification checkpoint')
    parser.add_argument('out', help='output checkpoint (mmpretrain layout)')
    parser.add_argument('--arch', default='deit-small', choices=['deit-small', 'deit-tiny'],
                        help='student architecture (ViT-S/16 or ViT-T/16)')
    add_trust_pickle_argument(parser)
    args = parser.parse_args()
    state = convert(args.checkpoint, args.arch, trust_pickle=args.trust_pickle)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    meta = dict(source=osp.abspath(args.checkpoint), arch=args.arch,
                layout='G2SDDistilledViT + G2SDDistilledClsHead')
    atomic_save(dict(state_dict=state, meta=meta), args.out)
    print(f'wrote {len(state)} tensors ({args.arch}, '
          f'{state["head.layers.head.weight"].shape[0]} classes) to {args.out}')


if __name__ == '__main__':
    main()
