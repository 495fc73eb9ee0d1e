"""Plain ViT backbone for ViTDet-style detectors (window attention + relative position).

The blocks are timm's SAM/ViTDet blocks (``timm.models.vision_transformer_sam.Block``):
pre-norm attention with decomposed relative position added as an attention
bias, optional non-overlapping window attention (inputs are padded to a
multiple of the window inside the partition), and a pre-norm MLP. Parameter
names therefore follow the official MAE / timm ViT layout
(``blocks.N.attn.qkv``, ``blocks.N.mlp.fc1``, ...) plus ``blocks.N.attn.rel_pos_h``
and ``rel_pos_w``, so a stage-1 student encoder loads with only the relative
position tables missing.
"""
from functools import partial
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from timm.layers import PatchEmbed, trunc_normal_, use_fused_attn
from timm.models.vision_transformer_sam import Block

from ...checkpoint.loading import run_init_cfg
from ...checkpoint.vit_backbones import load_vit_pretrained
from ..utils.pos_embed import resize_pos_embed
from .masked_autoencoder_vit import resolve_arch

__all__ = ['ViTDet']


@MODELS.register_module()
class ViTDet(BaseModule):
    """Plain ViT with window attention for ViTDet (Li et al., arXiv 2203.16527).

    Blocks listed in ``global_attn_indexes`` attend over the whole patch grid;
    all others attend within ``window_size`` x ``window_size`` windows. There is
    no class token and no final norm (the SimpleFPN neck normalises).

    The absolute position table has the checkpoint's shape
    ``(1, 1 + (pretrain_img_size / patch_size) ** 2, C)``: entry 0 is the MAE
    class-token position, kept so MAE/timm tables load unchanged, but never
    used. The patch part is resampled bicubically to the input's patch grid at
    every forward, so any input whose sides are multiples of ``patch_size``
    works.

    Args:
        arch (str | dict): ``'tiny' | 'small' | 'base' | 'large'`` or a dict with
            ``embed_dim``, ``depth`` and ``num_heads``.
        img_size (int | tuple): training input size; sizes the relative
            position tables of the global blocks (other sizes interpolate them).
        pretrain_img_size (int | tuple): input size the absolute position
            table was trained at.
        patch_size (int): patch size.
        in_chans (int): input channels.
        mlp_ratio (float): MLP hidden width / embed width.
        window_size (int): window side in patches for the windowed blocks.
        global_attn_indexes (sequence of int, optional): 0-based indices of
            the global-attention blocks. ``None`` takes the last block of each
            quarter of the depth: ``(2, 5, 8, 11)`` for 12 blocks,
            ``(5, 11, 17, 23)`` for 24.
        use_rel_pos (bool): decomposed relative position bias (tables start at
            zero, so an unfinetuned model is plain absolute-position attention).
        drop_path_rate (float): stochastic depth, linearly increasing per block.
        fused_attn (bool, optional): use ``F.scaled_dot_product_attention``
            (relative position enters as an additive mask); ``None`` follows
            timm's ``use_fused_attn()``.
        init_cfg (dict | list, optional): ``dict(type='Pretrained',
            checkpoint=PATH[, prefix=...])`` loads through
            :func:`g2sd_mm.checkpoint.load_vit_pretrained` (strict, see there).

    Example:
        >>> model = ViTDet(dict(embed_dim=32, depth=2, num_heads=2), img_size=64,
        ...                window_size=2, global_attn_indexes=(1,))
        >>> model(torch.rand(1, 3, 64, 96))[0].shape
        torch.Size([1, 32, 4, 6])
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Sequence[int]] = 1024,
                 pretrain_img_size: Union[int, Sequence[int]] = 224,
                 patch_size: int = 16,
                 in_chans: int = 3,
                 mlp_ratio: float = 4.0,
                 window_size: int = 14,
                 global_attn_indexes: Optional[Sequence[int]] = None,
                 use_rel_pos: bool = True,
                 drop_path_rate: float = 0.1,
                 fused_attn: Optional[bool] = None,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dim, self.depth, self.num_heads = resolve_arch(arch)
        if self.embed_dim % self.num_heads:
            raise ValueError(f'embed_dim {self.embed_dim} is not divisible by num_heads '
                             f'{self.num_heads}')
        if window_size <= 0:
            raise ValueError(f'window_size must be positive, got {window_size}')
        if global_attn_indexes is None:
            step = max(self.depth // 4, 1)
            global_attn_indexes = tuple(range(step - 1, self.depth, step))
        global_attn_indexes = tuple(int(i) for i in global_attn_indexes)
        bad = [i for i in global_attn_indexes if not 0 <= i < self.depth]
        if bad:
            raise ValueError(f'global_attn_indexes {bad} out of range for {self.depth} blocks '
                             '(indices are 0-based)')
        self.patch_size = int(patch_size)
        self.img_size = _pair(img_size)
        self.pretrain_img_size = _pair(pretrain_img_size)
        self.grid_size = self.patch_grid(self.img_size)
        self.pretrain_grid_size = self.patch_grid(self.pretrain_img_size)
        self.window_size = int(window_size)
        self.global_attn_indexes = global_attn_indexes
        self.use_rel_pos = bool(use_rel_pos)
        self.fused_attn = use_fused_attn() if fused_attn is None else bool(fused_attn)

        self.patch_embed = PatchEmbed(self.pretrain_img_size, patch_size, in_chans,
                                      self.embed_dim, output_fmt='NHWC',
                                      strict_img_size=False)
        num_pos = self.pretrain_grid_size[0] * self.pretrain_grid_size[1] + 1
        self.pos_embed = nn.Parameter(torch.zeros(1, num_pos, self.embed_dim))
        dpr = torch.linspace(0, drop_path_rate, self.depth).tolist()
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList()
        for i in range(self.depth):
            is_global = i in global_attn_indexes
            blk = Block(self.embed_dim, self.num_heads, mlp_ratio, qkv_bias=True,
                        drop_path=dpr[i], norm_layer=norm_layer, use_rel_pos=self.use_rel_pos,
                        window_size=0 if is_global else self.window_size,
                        input_size=self.grid_size)
            # timm reads the process-wide default at construction; fix it per instance.
            blk.attn.fused_attn = self.fused_attn
            self.blocks.append(blk)
        self._init_vitdet_weights()

    # ------------------------------------------------------------------ init
    def _init_vitdet_weights(self) -> None:
        """truncated-normal(0.02) linears and position table, unit LayerNorms,
        zero relative-position tables (the patch projection keeps torch's init)."""
        trunc_normal_(self.pos_embed, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for name, p in self.blocks.named_parameters():
            if 'rel_pos' in name:
                nn.init.zeros_(p)

    def init_weights(self) -> None:
        """Run ``init_cfg``; a ``Pretrained`` entry goes through
        :func:`g2sd_mm.checkpoint.load_vit_pretrained`."""
        run_init_cfg(self, load_vit_pretrained)

    def no_weight_decay(self) -> set:
        """Parameter names exempt from weight decay (position tables)."""
        names = {'pos_embed'}
        names.update(n for n, _ in self.named_parameters() if 'rel_pos' in n)
        return names

    # -------------------------------------------------------------- geometry
    def patch_grid(self, hw: Sequence[int]) -> Tuple[int, int]:
        """Patch grid ``(H / p, W / p)``; rejects sizes that are not multiples of p."""
        h, w = int(hw[0]), int(hw[1])
        if h % self.patch_size or w % self.patch_size or h <= 0 or w <= 0:
            raise ValueError(f'input size {h}x{w} is not a multiple of the patch size '
                             f'{self.patch_size}')
        return h // self.patch_size, w // self.patch_size

    def abs_pos(self, grid: Tuple[int, int]) -> torch.Tensor:
        """Absolute position embedding for a patch grid, ``(1, Gh, Gw, C)``."""
        pos = resize_pos_embed(self.pos_embed, self.pretrain_grid_size, grid)
        return pos[:, 1:].reshape(1, grid[0], grid[1], self.embed_dim)

    # --------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        """Args:
            x (Tensor): ``(B, 3, H, W)``, H and W multiples of ``patch_size``.

        Returns:
            tuple[Tensor]: one map ``(B, C, H / p, W / p)`` from the last block.
        """
        grid = self.patch_grid(x.shape[-2:])
        x = self.patch_embed(x) + self.abs_pos(grid)  # (B, Gh, Gw, C)
        for blk in self.blocks:
            x = blk(x)
        return (x.permute(0, 3, 1, 2).contiguous(),)


def _pair(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    size = tuple(int(s) for s in size)
    if len(size) != 2:
        raise ValueError(f'expected an int or (H, W), got {size}')
    return size
