"""The G2SD reference's segmentation checkpoints (mmseg 0.x) -> g2sd_mm's UperNet.

The reference trains its ADE20K teachers (MAE ViT-B/L) and students (ViT-S/T)
with mmseg 0.x and its own BEiT-style ``MAE`` backbone
(``G2SD_seg_dis/src/backbone/mae.py``; configs ``configs/mae/upernet_mae_*``
and ``configs/distill/distill_cwd*.py``): timm-named blocks with a per-block
relative position bias, layer scale ``gamma_1/2`` and no final norm, and the
multi-scale neck inside the backbone (``fpn1`` = ConvTranspose, BN, GELU,
ConvTranspose; ``fpn2`` = ConvTranspose; ``fpn3`` identity; ``fpn4`` max-pool).
That neck is mmseg's ``Feature2Pyramid`` with rescales (4, 2, 1, 0.5); the
decode and auxiliary heads are mmseg's ``UPerHead`` / ``FCNHead`` with the
same parameter names in mmseg 0.x and 1.x.

==========================================  ==============================================
reference (mmseg 0.x)                       g2sd_mm
==========================================  ==============================================
``backbone.blocks.N.attn.relative_``        ``backbone.blocks.N.rel_pos.relative_``
``position_bias_table``                     ``position_bias_table``
``backbone.blocks.N.gamma_1`` / ``_2``      ``backbone.blocks.N.ls1.gamma`` / ``ls2.gamma``
``backbone.fpn1.{0,1,3}.*``                 ``neck.upsample_4x.{0,1,3}.*``
``backbone.fpn2.0.*``                       ``neck.upsample_2x.0.*``
other ``backbone.*``, heads                 same name
==========================================  ==============================================

The ``relative_position_index`` buffers are checked against the standard
BEiT index (class token first, its three entries last in the table) and
dropped. A distillation checkpoint of the reference (``SegmentationDistiller``:
``student.*`` and ``teacher.*``) gives either part (:func:`select_part`).
"""
import re
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from ..errors import CheckpointError
from .mmseg import drop_rel_pos_indices, rename_keys

__all__ = ['REFERENCE_SEG_PAIRS', 'reference_seg_to_g2sd', 'select_part',
           'is_reference_seg_layout']

_BN = '{p}'  # weight | bias | running_mean | running_var | num_batches_tracked
_BLOCK = [
    'norm1.{w}', 'attn.qkv.{w}', 'attn.proj.{w}', 'norm2.{w}', 'mlp.fc1.{w}', 'mlp.fc2.{w}',
]
REFERENCE_SEG_PAIRS: List[Tuple[str, str]] = [
    ('backbone.cls_token', 'backbone.cls_token'),
    ('backbone.pos_embed', 'backbone.pos_embed'),
    ('backbone.patch_embed.proj.{w}', 'backbone.patch_embed.proj.{w}'),
    ('backbone.fpn1.0.{w}', 'neck.upsample_4x.0.{w}'),
    (f'backbone.fpn1.1.{_BN}', f'neck.upsample_4x.1.{_BN}'),
    ('backbone.fpn1.3.{w}', 'neck.upsample_4x.3.{w}'),
    ('backbone.fpn2.0.{w}', 'neck.upsample_2x.0.{w}'),
    ('decode_head.{p}', 'decode_head.{p}'),
    ('auxiliary_head.{p}', 'auxiliary_head.{p}'),
    ('backbone.blocks.{i}.attn.relative_position_bias_table',
     'backbone.blocks.{i}.rel_pos.relative_position_bias_table'),
    ('backbone.blocks.{i}.gamma_1', 'backbone.blocks.{i}.ls1.gamma'),
    ('backbone.blocks.{i}.gamma_2', 'backbone.blocks.{i}.ls2.gamma'),
] + [(f'backbone.blocks.{{i}}.{k}', f'backbone.blocks.{{i}}.{k}') for k in _BLOCK]
_INDEX = re.compile(r'backbone\.blocks\.(\d+)\.attn\.relative_position_index$')
_REFUSED = {
    'backbone.rel_pos_bias.': 'a relative-position table shared by all blocks '
                              '(use_shared_rel_pos_bias=True); ViTRelPos has one per block',
    'backbone.norm.': 'a final norm, which ViTRelPos does not have',
    'backbone.fpn': 'a neck for another patch size (the configs use patch 16: fpn1 = '
                    'ConvTranspose-BN-GELU-ConvTranspose, fpn2 = ConvTranspose)',
    'backbone.blocks.': 'a block parameter ViTRelPos lacks (e.g. q_bias/v_bias of the reference '
                        'BEiT backbone, not of its MAE one)',
}
_PARTS = ('student', 'teacher')


def is_reference_seg_layout(keys) -> bool:
    """True for the reference's segmentor (or distiller) keys (``backbone.fpn1.0.weight``)."""
    return any(re.match(r'((student|teacher)\.)?backbone\.fpn1\.0\.weight$', k) for k in keys)


def select_part(state: Mapping[str, torch.Tensor], part: Optional[str],
                source: str) -> Dict[str, torch.Tensor]:
    """The segmentor inside a checkpoint.

    A distillation checkpoint (``student.*`` / ``teacher.*`` keys, DDP's
    ``module.`` stripped) gives the ``part`` asked for (default ``student``);
    a plain segmentor checkpoint is returned as it is (``part`` must then be
    ``None``). Keys outside the selected part (the other model, loss modules)
    are not read.

    Raises:
        CheckpointError: the part is absent, or a part was asked of a plain
            segmentor checkpoint.
    """
    if all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    wrapped = any(k.startswith(tuple(p + '.' for p in _PARTS)) for k in state)
    if not wrapped:
        if part is not None:
            raise CheckpointError(f'{source} is a plain segmentor checkpoint (no student./'
                                  f'teacher. keys); it has no {part!r} part')
        return dict(state)
    part = part or 'student'
    if part not in _PARTS:
        raise ValueError(f'part must be one of {_PARTS}, got {part!r}')
    prefix = part + '.'
    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not out:
        raise CheckpointError(f'{source}: a distillation checkpoint without {part}.* keys')
    return out


def reference_seg_to_g2sd(state: Mapping[str, torch.Tensor],
                          source: str = '<state dict>') -> Dict[str, torch.Tensor]:
    """The reference's mmseg 0.x ``MAE`` UperNet state dict -> g2sd_mm's
    ``ViTRelPos`` + ``Feature2Pyramid`` UperNet state dict.

    Every key is used: renamed, passed through (heads), or a checked
    ``relative_position_index`` buffer.

    Raises:
        CheckpointError: naming ``source`` and every key without a mapping.
    """
    state = drop_rel_pos_indices(
        state, _INDEX, 'backbone.blocks.{i}.attn.relative_position_bias_table', source)
    return rename_keys(state, REFERENCE_SEG_PAIRS, source, 'G2SD reference (mmseg 0.x) -> '
                       'g2sd_mm', hints=_REFUSED)
