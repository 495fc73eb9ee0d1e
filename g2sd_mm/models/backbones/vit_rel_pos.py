"""Plain ViT with per-block relative position bias and layer scale (BEiT/MAE
segmentation backbone), for UperNet-style segmentors.

The blocks are timm's ViT blocks (``timm.models.vision_transformer.Block``)
with layer scale; each block also owns a BEiT-style relative position bias
table that enters the attention as an additive mask (so the fused
``F.scaled_dot_product_attention`` path stays available). Parameter names
follow the official MAE / timm layout (``blocks.N.attn.qkv``,
``blocks.N.mlp.fc1``, ...) plus ``blocks.N.ls1.gamma`` / ``ls2.gamma`` and
``blocks.N.rel_pos.relative_position_bias_table``, so a stage-1 student
encoder loads with only the tables and the layer-scale factors left at their
initial values.

Why not mmseg's ``MAE`` backbone: its ``init_weights`` loads a ``Pretrained``
checkpoint with ``strict=False`` and no prefix handling, so the stage-1 export
(``backbone.layers.N...``) silently loads nothing; it adds the absolute
position table without interpolation (only its ``img_size`` works); it
computes attention by hand; and it resizes relative-position tables with
scipy's removed ``interp2d``. Here every resize is ``F.interpolate``.
"""
import math
from functools import partial
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from timm.layers import PatchEmbed, gen_relative_position_index, trunc_normal_, use_fused_attn
from timm.models.vision_transformer import Block

from ...checkpoint.loading import run_init_cfg
from ...checkpoint.vit_backbones import load_vit_rel_pos_pretrained
from ..utils.pos_embed import resize_pos_embed
from .masked_autoencoder_vit import resolve_arch
from .vitdet import _pair

__all__ = ['ViTRelPos', 'RelativePositionBias', 'resize_rel_pos_table']

_NUM_EXTRA = 3  # cls->token, token->cls, cls->cls


def resize_rel_pos_table(table: torch.Tensor, src_window: Tuple[int, int],
                         dst_window: Tuple[int, int]) -> torch.Tensor:
    """Resample a BEiT table ``((2Wh-1)(2Ww-1) + 3, heads)`` to another window.

    The spatial part is resampled bicubically (``F.interpolate``,
    ``align_corners=False``) as a ``(heads, 2Wh-1, 2Ww-1)`` image; the three
    class-token entries are kept.
    """
    src = (2 * src_window[0] - 1, 2 * src_window[1] - 1)
    dst = (2 * dst_window[0] - 1, 2 * dst_window[1] - 1)
    if src == dst:
        return table
    heads = table.shape[1]
    spatial, extra = table[:-_NUM_EXTRA], table[-_NUM_EXTRA:]
    grid = spatial.t().reshape(1, heads, src[0], src[1]).float()
    grid = F.interpolate(grid, size=dst, mode='bicubic', align_corners=False)
    spatial = grid.reshape(heads, dst[0] * dst[1]).t().to(table.dtype)
    return torch.cat([spatial, extra], dim=0)


class RelativePositionBias(nn.Module):
    """BEiT relative position bias for one block (zero-initialised).

    A ``((2Wh-1)(2Ww-1) + 3, heads)`` table for a ``(Wh, Ww)`` patch grid plus
    three entries for the class token. For another grid the table is resampled
    (:func:`resize_rel_pos_table`).

    Args:
        window_size (tuple): ``(Wh, Ww)`` patch grid the table is built for.
        num_heads (int): attention heads.
    """

    def __init__(self, window_size: Tuple[int, int], num_heads: int):
        super().__init__()
        self.window_size = tuple(int(s) for s in window_size)
        size = (2 * self.window_size[0] - 1) * (2 * self.window_size[1] - 1) + _NUM_EXTRA
        self.relative_position_bias_table = nn.Parameter(torch.zeros(size, num_heads))
        self.register_buffer('relative_position_index',
                             gen_relative_position_index(self.window_size, class_token=True),
                             persistent=False)

    def forward(self, grid: Tuple[int, int]) -> torch.Tensor:
        """Bias ``(1, heads, 1 + Gh*Gw, 1 + Gh*Gw)`` for a ``(Gh, Gw)`` grid (+ cls)."""
        grid = tuple(int(g) for g in grid)
        table = self.relative_position_bias_table
        if grid == self.window_size:
            index = self.relative_position_index
        else:
            table = resize_rel_pos_table(table, self.window_size, grid)
            index = gen_relative_position_index(grid, class_token=True, device=table.device)
        n = grid[0] * grid[1] + 1
        bias = table[index.reshape(-1)].reshape(n, n, -1)
        return bias.permute(2, 0, 1).unsqueeze(0).contiguous()


class RelPosBlock(Block):
    """timm ViT block (pre-norm attention + MLP, layer scale, drop path) whose
    attention gets the block's relative position bias as an additive mask."""

    def __init__(self, dim: int, num_heads: int, window_size: Tuple[int, int],
                 mlp_ratio: float = 4.0, drop_path: float = 0.0,
                 init_values: Optional[float] = 1.0, use_rel_pos_bias: bool = True,
                 fused_attn: bool = True):
        super().__init__(dim, num_heads, mlp_ratio, qkv_bias=True, init_values=init_values,
                         drop_path=drop_path, norm_layer=partial(nn.LayerNorm, eps=1e-6))
        # timm reads the process-wide default at construction; fix it per instance.
        self.attn.fused_attn = fused_attn
        self.rel_pos = RelativePositionBias(window_size, num_heads) if use_rel_pos_bias \
            else None

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        """``(B, 1 + Gh*Gw, C)`` -> same shape."""
        bias = None if self.rel_pos is None else self.rel_pos(grid)
        return super().forward(x, attn_mask=bias)


@MODELS.register_module()
class ViTRelPos(BaseModule):
    """Plain ViT with relative position bias and layer scale for segmentation
    (BEiT / MAE UperNet backbone, as in G2SD's ADE20K setting).

    Outputs the token maps after the blocks in ``out_indices`` (without a final
    norm), each ``(B, C, H / p, W / p)``; with mmseg's ``Feature2Pyramid``
    (rescales 4, 2, 1, 0.5) they become a 4-level pyramid. The class token is
    kept through the blocks (it has its own relative-position entries).

    The absolute position table and the relative-position tables are built for
    ``img_size`` (the training crop); other inputs interpolate them at runtime
    (bicubic). Sides that are not multiples of ``patch_size`` are zero-padded
    at the bottom/right, as mmseg's ViT backbones do.

    Args:
        arch (str | dict): ``'tiny' | 'small' | 'base' | 'large'`` or a dict with
            ``embed_dim``, ``depth`` and ``num_heads``.
        img_size (int | tuple): training input size.
        patch_size (int): patch size.
        in_chans (int): input channels.
        mlp_ratio (float): MLP hidden width / embed width.
        out_indices (sequence of int): 0-based indices of the output blocks.
        drop_path_rate (float): stochastic depth, linearly increasing per block.
        layer_scale_init_value (float, optional): initial layer-scale factor
            (``None``: no layer scale).
        use_rel_pos_bias (bool): per-block relative position bias tables (zero
            at init, so an unfinetuned model is plain absolute-position ViT).
        fused_attn (bool, optional): use ``F.scaled_dot_product_attention``;
            ``None`` follows timm's ``use_fused_attn()``.
        init_cfg (dict | list, optional): ``dict(type='Pretrained',
            checkpoint=PATH[, prefix=...])`` loads through
            :func:`g2sd_mm.checkpoint.load_vit_rel_pos_pretrained` (strict, see there).

    Example:
        >>> model = ViTRelPos(dict(embed_dim=32, depth=4, num_heads=2), img_size=64,
        ...                   patch_size=16, out_indices=(1, 3))
        >>> [o.shape for o in model(torch.rand(1, 3, 64, 96))]
        [torch.Size([1, 32, 4, 6]), torch.Size([1, 32, 4, 6])]
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Sequence[int]] = 512,
                 patch_size: int = 16,
                 in_chans: int = 3,
                 mlp_ratio: float = 4.0,
                 out_indices: Sequence[int] = (3, 5, 7, 11),
                 drop_path_rate: float = 0.1,
                 layer_scale_init_value: Optional[float] = 1.0,
                 use_rel_pos_bias: bool = True,
                 fused_attn: Optional[bool] = None,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dim, self.depth, self.num_heads = resolve_arch(arch)
        if self.embed_dim % self.num_heads:
            raise ValueError(f'embed_dim {self.embed_dim} is not divisible by num_heads '
                             f'{self.num_heads}')
        if patch_size <= 0:
            raise ValueError(f'patch_size must be positive, got {patch_size}')
        out_indices = tuple(int(i) for i in out_indices)
        bad = [i for i in out_indices if not 0 <= i < self.depth]
        if bad or not out_indices or len(set(out_indices)) != len(out_indices):
            raise ValueError(f'out_indices {out_indices} must be distinct 0-based block '
                             f'indices below the depth {self.depth}')
        self.out_indices = tuple(sorted(out_indices))
        self.patch_size = int(patch_size)
        self.img_size = _pair(img_size)
        self.grid_size = self.patch_grid(self.img_size)
        if self.grid_size[0] * self.patch_size != self.img_size[0] or \
                self.grid_size[1] * self.patch_size != self.img_size[1]:
            raise ValueError(f'img_size {self.img_size} is not a multiple of the patch size '
                             f'{self.patch_size}')
        self.fused_attn = use_fused_attn() if fused_attn is None else bool(fused_attn)

        self.patch_embed = PatchEmbed(self.img_size, self.patch_size, in_chans, self.embed_dim,
                                      strict_img_size=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dim))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, 1 + self.grid_size[0] * self.grid_size[1], self.embed_dim))
        dpr = torch.linspace(0, drop_path_rate, self.depth).tolist()
        self.blocks = nn.ModuleList(
            RelPosBlock(self.embed_dim, self.num_heads, self.grid_size, mlp_ratio,
                        drop_path=dpr[i], init_values=layer_scale_init_value,
                        use_rel_pos_bias=use_rel_pos_bias, fused_attn=self.fused_attn)
            for i in range(self.depth))
        self._init_vit_weights()

    # ------------------------------------------------------------------ init
    def _init_vit_weights(self) -> None:
        """truncated-normal(0.02) linears, class token and position table, unit
        LayerNorms; relative-position tables zero, layer scale at its init
        value (the patch projection keeps torch's init)."""
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, RelativePositionBias):
                nn.init.zeros_(m.relative_position_bias_table)

    def init_weights(self) -> None:
        """Run ``init_cfg``; a ``Pretrained`` entry goes through
        :func:`g2sd_mm.checkpoint.load_vit_rel_pos_pretrained`."""
        run_init_cfg(self, load_vit_rel_pos_pretrained)

    def no_weight_decay(self) -> set:
        """Parameter names exempt from weight decay (position tables, class token)."""
        names = {'pos_embed', 'cls_token'}
        names.update(n for n, _ in self.named_parameters() if 'rel_pos' in n)
        return names

    # -------------------------------------------------------------- geometry
    def patch_grid(self, hw: Sequence[int]) -> Tuple[int, int]:
        """Patch grid ``(ceil(H / p), ceil(W / p))`` of an input (after padding)."""
        h, w = int(hw[0]), int(hw[1])
        if h <= 0 or w <= 0:
            raise ValueError(f'input size {h}x{w} is empty')
        return math.ceil(h / self.patch_size), math.ceil(w / self.patch_size)

    def abs_pos(self, grid: Tuple[int, int]) -> torch.Tensor:
        """Absolute position table for a patch grid, ``(1, 1 + Gh*Gw, C)``."""
        return resize_pos_embed(self.pos_embed, self.grid_size, grid)

    # --------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args:
            x (Tensor): ``(B, 3, H, W)``.

        Returns:
            tuple[Tensor]: ``len(out_indices)`` maps ``(B, C, ceil(H/p), ceil(W/p))``.
        """
        grid = self.patch_grid(x.shape[-2:])
        pad_h = grid[0] * self.patch_size - x.shape[-2]
        pad_w = grid[1] * self.patch_size - x.shape[-1]
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        b = x.shape[0]
        x = self.patch_embed(x)  # (B, Gh*Gw, C)
        pos = self.abs_pos(grid)
        x = torch.cat([(self.cls_token + pos[:, :1]).expand(b, -1, -1), x + pos[:, 1:]], dim=1)
        outs = []
        for i, blk in enumerate(self.blocks):
            x = blk(x, grid)
            if i in self.out_indices:
                outs.append(x[:, 1:].transpose(1, 2).reshape(b, self.embed_dim, *grid)
                            .contiguous())
        return tuple(outs)
