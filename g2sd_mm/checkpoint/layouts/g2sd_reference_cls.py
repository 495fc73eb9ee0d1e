"""Key map: G2SD reference classification students <-> g2sd_mm's distilled student.

The reference (``G2SD/models_vit.py``, ``VisionTransformer(distillation=True)``,
class-token classifier as its ``SD.sh`` runs it) is a timm ViT plus
``dist_token`` and ``head_dist``; its token layout is the one of
:class:`~g2sd_mm.models.backbones.G2SDDistilledViT`, so the conversion is a
rename into mmpretrain's ``ImageClassifier`` keys (``backbone.*`` of
``G2SDDistilledViT``, ``head.layers.{head,head_dist}`` of
``G2SDDistilledClsHead``)::

    cls_token, pos_embed, dist_token      -> backbone.{cls_token,pos_embed,dist_token}
    patch_embed.proj.*                    -> backbone.patch_embed.projection.*
    blocks.N.{norm1,attn.*,norm2,mlp.*}   -> backbone.layers.N.{ln1,attn.*,ln2,ffn.*}
    norm.*                                -> backbone.ln1.*
    head.*, head_dist.*                   -> head.layers.head.*, head.layers.head_dist.*

A global-pool student (``fc_norm`` instead of ``norm``) averages the patch
tokens *and* the distillation token in the reference; it has no counterpart
here and is refused.
"""
from typing import Dict, List, Mapping, Tuple

import torch

from ..errors import CheckpointError
from .mae import ENCODER_PAIRS, _compile

__all__ = ['REFERENCE_CLS_PAIRS', 'reference_cls_to_mmpretrain', 'mmpretrain_to_reference_cls']

# (reference, mmpretrain ImageClassifier) templates; {i} block, {w} weight|bias
REFERENCE_CLS_PAIRS: List[Tuple[str, str]] = ENCODER_PAIRS + [
    ('dist_token', 'backbone.dist_token'),
    ('head.{w}', 'head.layers.head.{w}'),
    ('head_dist.{w}', 'head.layers.head_dist.{w}'),
]
# every reference student has these (the blocks are checked by the model load)
_REQUIRED = ('cls_token', 'pos_embed', 'dist_token', 'patch_embed.proj.weight',
             'norm.weight', 'head.weight', 'head_dist.weight')


def _rename(state: Mapping[str, torch.Tensor], reverse: bool,
            source: str) -> Dict[str, torch.Tensor]:
    table = [(_compile(b if reverse else a), a if reverse else b)
             for a, b in REFERENCE_CLS_PAIRS]
    out, leftover = {}, []
    for key, value in state.items():
        for regex, template in table:
            match = regex.match(key)
            if match:
                name = template.format(**match.groupdict())
                if name in out:
                    raise CheckpointError(f'{source}: two keys map to {name}')
                out[name] = value
                break
        else:
            leftover.append(key)
    if leftover:
        raise CheckpointError(f'{source}: {len(leftover)} key(s) with no place in the '
                              f'distilled student: {sorted(leftover)[:12]}')
    return out


def reference_cls_to_mmpretrain(state: Mapping[str, torch.Tensor],
                                source: str = '<state dict>') -> Dict[str, torch.Tensor]:
    """Reference student keys -> ``ImageClassifier`` keys; every key must map.

    Raises:
        CheckpointError: naming ``source``: a global-pool student (``fc_norm``),
            a file that is not a distilled student (no ``dist_token`` /
            ``head_dist``), or keys that have no mapping (listed).
    """
    if 'fc_norm.weight' in state:
        raise CheckpointError(f'{source}: a global-pool student (fc_norm): the reference '
                              'averages the distillation token into its pooled feature, which '
                              'G2SDDistilledViT does not; only class-token students '
                              "('--cls_token', the SD.sh default) convert")
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f'{source}: not a G2SD reference distilled classifier; '
                              f'missing {missing}')
    return _rename(state, reverse=False, source=source)


def mmpretrain_to_reference_cls(state: Mapping[str, torch.Tensor],
                                source: str = '<state dict>') -> Dict[str, torch.Tensor]:
    """The inverse of :func:`reference_cls_to_mmpretrain` (``data_preprocessor``
    buffers dropped)."""
    kept = {k: v for k, v in state.items() if not k.startswith('data_preprocessor.')}
    return _rename(kept, reverse=True, source=source)
