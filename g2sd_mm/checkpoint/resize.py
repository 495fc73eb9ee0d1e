"""Fit a checkpoint's position tables to a model of another input size.

Checkpoint-side helpers: they check that a table has a shape a model can take
(naming the file and key otherwise) and resample it with the models' own
functions (``g2sd_mm.models.utils.pos_embed.resize_pos_embed``,
``g2sd_mm.models.backbones.vit_rel_pos.resize_rel_pos_table``), which the
models also use at run time for other input sizes.
"""
import math
from typing import Tuple

import torch
import torch.nn.functional as F

from .errors import CheckpointError

__all__ = ['resize_abs_pos', 'resize_cls_pos', 'resize_prefixed_pos', 'resize_decomposed_rel_pos',
           'resize_beit_rel_pos']

_BEIT_EXTRA = 3  # BEiT table rows for cls->token, token->cls, cls->cls


def _resize_pos_embed(*args, **kwargs) -> torch.Tensor:
    # g2sd_mm.models imports this package (strict init_cfg), so the model helper
    # is imported when first used, not at import time.
    from ..models.utils.pos_embed import resize_pos_embed
    return resize_pos_embed(*args, **kwargs)


def resize_abs_pos(value: torch.Tensor, grid: Tuple[int, int], source: str) -> torch.Tensor:
    """A ``(1, [1 +] S*S, C)`` table -> ``(1, 1 + Gh*Gw, C)`` (entry 0 = class slot,
    zero when the checkpoint has none)."""
    n = value.shape[1]
    side = math.isqrt(n)
    if side * side == n:  # no class-token slot
        value = torch.cat([value.new_zeros(1, 1, value.shape[2]), value], dim=1)
    else:
        side = math.isqrt(n - 1)
        if side * side != n - 1:
            raise CheckpointError(f'{source}: pos_embed has {n} entries, which is neither a '
                                  'square grid nor a square grid plus a class token')
    return _resize_pos_embed(value, (side, side), grid)


def resize_cls_pos(value: torch.Tensor, grid: Tuple[int, int], source: str,
                   key: str) -> torch.Tensor:
    """A ``(1, 1 + S*S, C)`` MAE table (class slot + square grid) -> ``(1, 1 + Gh*Gw, C)``."""
    side = math.isqrt(value.shape[1] - 1)
    if side * side != value.shape[1] - 1:
        raise CheckpointError(f'{source}: {key} has {value.shape[1] - 1} patch positions, '
                              'not a square grid')
    return _resize_pos_embed(value, (side, side), grid)


def resize_prefixed_pos(value: torch.Tensor, extra_tokens: int, grid: Tuple[int, int],
                        source: str) -> torch.Tensor:
    """A ``(1, extra + S*S, C)`` table -> ``(1, extra + Gh*Gw, C)``."""
    n = value.shape[1] - extra_tokens
    side = math.isqrt(max(n, 0))
    if n <= 0 or side * side != n:
        raise CheckpointError(f'{source}: pos_embed has {value.shape[1]} entries, which is '
                              f'not {extra_tokens} extra token(s) plus a square grid')
    return _resize_pos_embed(value, (side, side), grid, num_prefix_tokens=extra_tokens)


def resize_decomposed_rel_pos(value: torch.Tensor, length: int) -> torch.Tensor:
    """Linearly resample a ``(L, head_dim)`` relative-position table (ViTDet /
    SAM decomposed form) to ``length`` rows."""
    out = F.interpolate(value.t().unsqueeze(0).float(), size=length, mode='linear')
    return out.squeeze(0).t().to(value.dtype)


def resize_beit_rel_pos(value: torch.Tensor, want: torch.Size, window: Tuple[int, int],
                        key: str, source: str) -> torch.Tensor:
    """A BEiT table ``((2S-1)^2 + 3, heads)`` of a square window -> the model's
    ``want`` shape for ``window`` (spatial part bicubic, class entries kept)."""
    from ..models.backbones.vit_rel_pos import resize_rel_pos_table
    side = (math.isqrt(max(value.shape[0] - _BEIT_EXTRA, 0)) + 1) // 2
    if (2 * side - 1) ** 2 + _BEIT_EXTRA != value.shape[0]:
        raise CheckpointError(f'{source}: {key} has {value.shape[0]} rows, which is not the '
                              'table of a square window')
    out = resize_rel_pos_table(value, (side, side), window)
    if out.shape != want:
        raise CheckpointError(f'{source}: {key}: resized table {tuple(out.shape)} does not '
                              f'fit the model {tuple(want)}')
    return out
