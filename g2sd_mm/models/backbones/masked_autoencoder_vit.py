"""MAE-style ViT encoder + transformer decoder, used as G2SD teacher and student."""
from functools import partial
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from timm.layers import PatchEmbed, use_fused_attn
from timm.models.vision_transformer import Block

from ..utils.pos_embed import resize_pos_embed, sincos_pos_embed_2d

ENCODER_ARCHS: Dict[str, Dict[str, int]] = {
    'tiny': dict(embed_dim=192, depth=12, num_heads=3),
    'small': dict(embed_dim=384, depth=12, num_heads=6),
    'base': dict(embed_dim=768, depth=12, num_heads=12),
    'large': dict(embed_dim=1024, depth=24, num_heads=16),
}


def resolve_arch(arch: Union[str, dict]) -> Tuple[int, int, int]:
    """``'small'`` or ``dict(embed_dim=, depth=, num_heads=)`` -> (embed_dim, depth, heads)."""
    if isinstance(arch, str):
        if arch not in ENCODER_ARCHS:
            raise ValueError(f'unknown arch {arch!r}; choose from {sorted(ENCODER_ARCHS)} '
                             'or pass a dict(embed_dim=, depth=, num_heads=)')
        arch = ENCODER_ARCHS[arch]
    missing = {'embed_dim', 'depth', 'num_heads'} - set(arch)
    if missing:
        raise ValueError(f'arch dict lacks {sorted(missing)}')
    return int(arch['embed_dim']), int(arch['depth']), int(arch['num_heads'])


@MODELS.register_module()
class MaskedAutoencoderViT(BaseModule):
    """ViT encoder on the visible patches followed by an MAE decoder.

    Parameter names follow the official MAE checkpoints (``blocks.N.attn.qkv``,
    ``decoder_blocks.N.mlp.fc1``, ...), so those and timm ViT weights load
    without renaming. The pixel-prediction layer of MAE is not built: G2SD
    only uses decoder hidden states.

    Args:
        arch (str | dict): ``'tiny' | 'small' | 'base' | 'large'`` or a dict with
            ``embed_dim``, ``depth`` and ``num_heads``.
        img_size (int | tuple): size the position tables are built for; other
            sizes that are multiples of ``patch_size`` work by interpolation.
        patch_size (int): patch size.
        in_chans (int): input channels.
        mlp_ratio (float): MLP hidden width / embed width.
        decoder_embed_dim (int): decoder width.
        decoder_depth (int): number of decoder blocks that are built and run.
            A teacher that is only read after block ``k`` is built with ``k``.
        decoder_num_heads (int): decoder heads.
        decoder_norm (bool): apply a final LayerNorm after the decoder blocks.
            G2SD uses the raw block output, so both teacher and student use
            ``False``.
        drop_path_rate (float): stochastic depth of the encoder blocks.
        fused_attn (bool, optional): use ``F.scaled_dot_product_attention``;
            ``None`` follows timm's ``use_fused_attn()`` (on by default).
        init_cfg (dict, optional): mmengine initialisation config.

    Example:
        >>> model = MaskedAutoencoderViT(dict(embed_dim=32, depth=2, num_heads=2),
        ...     img_size=32, patch_size=8, decoder_embed_dim=16, decoder_depth=1,
        ...     decoder_num_heads=2)
        >>> ids = torch.arange(16).expand(2, 16)
        >>> model(torch.rand(2, 3, 32, 32), ids[:, :4], ids).shape
        torch.Size([2, 17, 16])
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: int = 16,
                 in_chans: int = 3,
                 mlp_ratio: float = 4.0,
                 decoder_embed_dim: int = 512,
                 decoder_depth: int = 8,
                 decoder_num_heads: int = 16,
                 decoder_norm: bool = False,
                 drop_path_rate: float = 0.0,
                 fused_attn: Optional[bool] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dim, self.depth, self.num_heads = resolve_arch(arch)
        if self.embed_dim % self.num_heads or decoder_embed_dim % decoder_num_heads:
            raise ValueError('embed dims must be divisible by their head counts: '
                             f'{self.embed_dim}/{self.num_heads}, '
                             f'{decoder_embed_dim}/{decoder_num_heads}')
        if decoder_depth < 0:
            raise ValueError(f'decoder_depth must be >= 0, got {decoder_depth}')
        self.img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.patch_size = int(patch_size)
        self.decoder_embed_dim = int(decoder_embed_dim)
        self.decoder_depth = int(decoder_depth)
        self.grid_size = self.patch_grid(self.img_size)
        num_patches = self.grid_size[0] * self.grid_size[1]
        fused = use_fused_attn() if fused_attn is None else bool(fused_attn)
        norm_layer = partial(nn.LayerNorm, eps=1e-6)

        # encoder
        self.patch_embed = PatchEmbed(self.img_size, patch_size, in_chans, self.embed_dim,
                                      strict_img_size=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dim))
        self.pos_embed = nn.Parameter(
            sincos_pos_embed_2d(self.embed_dim, self.grid_size), requires_grad=False)
        dpr = torch.linspace(0, drop_path_rate, self.depth).tolist()
        self.blocks = nn.ModuleList([
            Block(self.embed_dim, self.num_heads, mlp_ratio, qkv_bias=True,
                  drop_path=dpr[i], norm_layer=norm_layer) for i in range(self.depth)
        ])
        self.norm = norm_layer(self.embed_dim)

        # decoder
        self.decoder_embed = nn.Linear(self.embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(
            sincos_pos_embed_2d(decoder_embed_dim, self.grid_size), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, qkv_bias=True,
                  norm_layer=norm_layer) for _ in range(decoder_depth)
        ])
        self.decoder_norm = norm_layer(decoder_embed_dim) if decoder_norm else None

        for blk in list(self.blocks) + list(self.decoder_blocks):
            blk.attn.fused_attn = fused
        self.fused_attn = fused
        self._init_mae_weights()
        assert self.pos_embed.shape[1] == num_patches + 1

    # ------------------------------------------------------------------ init
    def _init_mae_weights(self) -> None:
        """MAE initialisation: xavier linears, normal(0.02) tokens, fixed sin-cos."""
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def no_weight_decay(self) -> set:
        """Parameter names exempt from weight decay (tokens, position tables)."""
        return {'cls_token', 'mask_token', 'pos_embed', 'decoder_pos_embed'}

    # -------------------------------------------------------------- geometry
    def patch_grid(self, hw: Sequence[int]) -> Tuple[int, int]:
        """Patch grid ``(H / p, W / p)`` for an input size; rejects sizes not divisible by p."""
        h, w = int(hw[0]), int(hw[1])
        if h % self.patch_size or w % self.patch_size or h <= 0 or w <= 0:
            raise ValueError(f'input size {h}x{w} is not a multiple of the patch size '
                             f'{self.patch_size}')
        return h // self.patch_size, w // self.patch_size

    def _pos(self, table: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        return resize_pos_embed(table, self.grid_size, grid)

    # --------------------------------------------------------------- forward
    def forward_encoder(self, imgs: torch.Tensor,
                        ids_keep: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Encode the visible patches.

        Args:
            imgs (Tensor): ``(B, C, H, W)``.
            ids_keep (Tensor, optional): ``(B, K)`` visible patch indices; all
                patches when ``None``.

        Returns:
            Tensor: ``(B, 1 + K, embed_dim)`` after the final norm.
        """
        grid = self.patch_grid(imgs.shape[-2:])
        pos = self._pos(self.pos_embed, grid)
        x = self.patch_embed(imgs) + pos[:, 1:]
        if ids_keep is not None:
            x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        cls = (self.cls_token + pos[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor,
                        grid: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """Run the decoder on the encoded visible tokens plus mask tokens.

        Args:
            latent (Tensor): ``(B, 1 + K, embed_dim)`` encoder output.
            ids_restore (Tensor): ``(B, L)`` un-shuffling permutation.
            grid (tuple, optional): patch grid of the input (default: training grid).

        Returns:
            Tensor: ``(B, 1 + L, decoder_embed_dim)`` hidden states after the
            last built decoder block (and the decoder norm, if enabled).
        """
        grid = self.grid_size if grid is None else grid
        x = self.decoder_embed(latent)
        batch, length = ids_restore.shape
        mask_tokens = self.mask_token.to(x.dtype).expand(batch, length + 1 - x.shape[1], -1)
        patches = torch.cat([x[:, 1:], mask_tokens], dim=1)
        patches = torch.gather(patches, 1,
                               ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        x = torch.cat([x[:, :1], patches], dim=1) + self._pos(self.decoder_pos_embed, grid)
        for blk in self.decoder_blocks:
            x = blk(x)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        return x

    def forward(self, imgs: torch.Tensor, ids_keep: torch.Tensor,
                ids_restore: torch.Tensor) -> torch.Tensor:
        """Decoder hidden states ``(B, 1 + L, decoder_embed_dim)`` for a given mask."""
        grid = self.patch_grid(imgs.shape[-2:])
        if ids_restore.shape[1] != grid[0] * grid[1]:
            raise ValueError(f'mask covers {ids_restore.shape[1]} patches but a '
                             f'{imgs.shape[-2]}x{imgs.shape[-1]} input has {grid[0] * grid[1]}')
        return self.forward_decoder(self.forward_encoder(imgs, ids_keep), ids_restore, grid)
