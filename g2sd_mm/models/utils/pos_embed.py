"""Position-embedding helpers: fixed 2-D sin-cos tables and resizing."""
from typing import Tuple

import torch
import torch.nn.functional as F


def sincos_pos_embed_2d(embed_dim: int, grid_hw: Tuple[int, int],
                        cls_token: bool = True) -> torch.Tensor:
    """MAE's fixed 2-D sin-cos table.

    Half of the channels encode the column, half the row (as in the MAE
    reference); an all-zero row is prepended for the cls token.

    Returns:
        Tensor: ``(1, [1 +] H * W, embed_dim)``.
    """
    if embed_dim % 4 != 0:
        raise ValueError(f'sin-cos position embedding needs embed_dim % 4 == 0, got {embed_dim}')
    h, w = grid_hw
    gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing='ij')
    quarter = embed_dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)

    def encode(pos):
        out = pos.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat([out.sin(), out.cos()], dim=1)

    table = torch.cat([encode(gx), encode(gy)], dim=1)
    if cls_token:
        table = torch.cat([torch.zeros(1, embed_dim, dtype=torch.float64), table], dim=0)
    return table.float().unsqueeze(0)


def resize_pos_embed(pos_embed: torch.Tensor, src_hw: Tuple[int, int],
                     dst_hw: Tuple[int, int], num_prefix_tokens: int = 1) -> torch.Tensor:
    """Bicubically resample the patch part of ``(1, P + H*W, C)`` to a new grid."""
    if tuple(src_hw) == tuple(dst_hw):
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    if grid.shape[1] != src_hw[0] * src_hw[1]:
        raise ValueError(f'position table has {grid.shape[1]} patch entries, '
                         f'expected {src_hw[0]}x{src_hw[1]}')
    dim = grid.shape[-1]
    grid = grid.reshape(1, src_hw[0], src_hw[1], dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=tuple(dst_hw), mode='bicubic',
                         align_corners=False).to(pos_embed.dtype)
    grid = grid.permute(0, 2, 3, 1).reshape(1, dst_hw[0] * dst_hw[1], dim)
    return torch.cat([prefix, grid], dim=1)
