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
import math
import re
from functools import partial
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import PretrainedInit
from timm.layers import PatchEmbed, trunc_normal_, use_fused_attn
from timm.models.vision_transformer_sam import Block

from ...engine.safe_checkpoint import CheckpointError, load_checkpoint_file
from ..utils.key_mapping import mmpretrain_to_official
from ..utils.pos_embed import resize_pos_embed
from .masked_autoencoder_vit import resolve_arch

__all__ = ['ViTDet', 'load_vit_pretrained']

_REL_POS = re.compile(r'blocks\.\d+\.attn\.rel_pos_[hw]$')
# Keys of MAE / timm / G2SD-reference checkpoints that a detection backbone does
# not use: the class token (ViTDet has none), the final norm and classifier,
# the MAE decoder, and the reference stage-1 projection heads.
_IGNORED = re.compile(r'(cls_token|mask_token|norm\.|fc_norm\.|head\.|decoder'
                      r'|encoderfeature_pred\.)')
# Prefixes tried, in order, when a checkpoint has no bare encoder keys.
_AUTO_PREFIXES = ('student.backbone.', 'backbone.', 'student.')


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
            :func:`load_vit_pretrained` (strict, see there).

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
        """Run ``init_cfg``; a ``Pretrained`` entry goes through :func:`load_vit_pretrained`."""
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


# ------------------------------------------------------------------ loading
def _unwrap(ckpt, source: str) -> Dict[str, torch.Tensor]:
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(f'{source}: expected a dict checkpoint, got {type(ckpt).__name__}')
    for key in ('state_dict', 'model'):
        if isinstance(ckpt.get(key), Mapping):
            ckpt = ckpt[key]
            break
    state = dict(ckpt)
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f'{source}: no tensor state dict found (top-level keys: '
                              f'{sorted(map(str, state))[:10]})')
    return state


def _select(state: Dict[str, torch.Tensor], prefix: Optional[str],
            source: str) -> Dict[str, torch.Tensor]:
    """Keep the keys under ``prefix`` (stripped); ``None`` detects the prefix."""
    if prefix is None and not any(k.startswith(('blocks.', 'patch_embed.', 'layers.'))
                                  for k in state):
        prefix = next((p for p in _AUTO_PREFIXES if any(k.startswith(p) for k in state)), None)
    if not prefix:
        return state
    if not prefix.endswith('.'):
        prefix += '.'
    kept = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not kept:
        raise CheckpointError(f'{source}: no key starts with {prefix!r} (first keys: '
                              f'{sorted(state)[:8]})')
    return kept


def _to_official(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """mmpretrain ``VisionTransformer`` names -> official/timm names.

    Keys without an mmpretrain encoder mapping are kept as they are, so the
    strict check below reports them.
    """
    if not any(k.startswith(('layers.', 'patch_embed.projection.')) for k in state):
        return state
    out = {}
    for key, value in state.items():
        try:
            (new_key, _), = mmpretrain_to_official({'backbone.' + key: value}).items()
        except KeyError:
            new_key = key
        out[new_key] = value
    return out


def _resize_abs_pos(value: torch.Tensor, grid: Tuple[int, int], source: str) -> torch.Tensor:
    """A ``(1, [1 +] S*S, C)`` table -> ``(1, 1 + Gh*Gw, C)`` (entry 0 = class slot)."""
    n = value.shape[1]
    side = math.isqrt(n)
    if side * side == n:  # no class-token slot
        value = torch.cat([value.new_zeros(1, 1, value.shape[2]), value], dim=1)
    else:
        side = math.isqrt(n - 1)
        if side * side != n - 1:
            raise CheckpointError(f'{source}: pos_embed has {n} entries, which is neither a '
                                  'square grid nor a square grid plus a class token')
    return resize_pos_embed(value, (side, side), grid)


def _resize_rel_pos(value: torch.Tensor, length: int) -> torch.Tensor:
    """Linearly resample a ``(L, head_dim)`` relative-position table to ``length`` rows."""
    out = F.interpolate(value.t().unsqueeze(0).float(), size=length, mode='linear')
    return out.squeeze(0).t().to(value.dtype)


def _preview(keys, limit: int = 12) -> str:
    """Readable key list with block indices folded: ``blocks.{0-3}.attn.qkv.weight``."""
    folded: Dict[str, set] = {}
    for key in keys:
        m = re.match(r'(.*?blocks)\.(\d+)\.(.*)', key)
        name = f'{m.group(1)}.{{i}}.{m.group(3)}' if m else key
        folded.setdefault(name, set())
        if m:
            folded[name].add(int(m.group(2)))
    parts = []
    for name, idx in folded.items():
        if idx:
            span = str(min(idx)) if len(idx) == 1 else f'{min(idx)}-{max(idx)}'
            name = name.replace('{i}', '{' + span + '}' if len(idx) > 1 else span)
        parts.append(name)
    more = f' ... (+{len(parts) - limit} more)' if len(parts) > limit else ''
    return ', '.join(parts[:limit]) + more


def load_vit_pretrained(backbone: ViTDet,
                        checkpoint: Union[str, Mapping[str, torch.Tensor]],
                        prefix: Optional[str] = None) -> Dict[str, list]:
    """Strictly load ViT encoder weights into a :class:`ViTDet`.

    Accepted inputs (files are read with ``load_checkpoint_file``, i.e.
    ``weights_only``):

    * official MAE / timm ViT weights (``ckpt['model']`` or a bare dict),
      with or without the MAE decoder;
    * mmpretrain ``VisionTransformer`` / MAE weights (``state_dict`` with
      ``backbone.layers.N...``), e.g. the stage-1 student export;
    * g2sd_mm stage-1 checkpoints (``student.*``) and detectors whose backbone
      is a ViTDet (``backbone.blocks.N...``, ``student.backbone...``).

    Without ``prefix`` the first of ``student.backbone.``, ``backbone.``,
    ``student.`` present is used when the file has no bare encoder keys; keys
    outside the prefix (neck, heads, teacher, data preprocessor) are not read.

    ``pos_embed`` on another grid (with or without a class-token slot) is
    resampled bicubically, relative-position tables of another length
    linearly. The relative-position tables may be absent (they keep their zero
    init); the class token, final norm, classifier head and MAE decoder are
    dropped. Any other missing or extra key and any shape mismatch raises.

    Args:
        backbone (ViTDet): the model to fill.
        checkpoint (str | dict): a file path or a loaded checkpoint/state dict.
        prefix (str, optional): only read keys under this prefix (stripped).

    Returns:
        dict: ``missing`` (relative-position tables left at init) and
        ``ignored`` (checkpoint keys dropped) key lists.

    Raises:
        FileNotFoundError: ``checkpoint`` is a path that does not exist.
        CheckpointError: the weights do not fit; the message names the source.
    """
    def resize(key, value, want):
        if key == 'pos_embed' and value.dim() == 3 and value.shape[-1] == want[-1]:
            return _resize_abs_pos(value, backbone.pretrain_grid_size, source_name(checkpoint))
        if _REL_POS.match(key) and value.dim() == 2 and value.shape[1] == want[1] \
                and value.shape[0] != want[0]:
            return _resize_rel_pos(value, want[0])
        return value

    return load_encoder_state(backbone, checkpoint, prefix, _REL_POS, resize,
                              'relative-position tables')


def run_init_cfg(backbone: BaseModule, load_fn) -> None:
    """Run a ViT backbone's ``init_cfg``, sending a ``Pretrained`` entry to
    ``load_fn(backbone, checkpoint, prefix=...)`` (strict) instead of mmengine's
    non-strict loader; the other entries run as usual."""
    cfgs = backbone.init_cfg if isinstance(backbone.init_cfg, (list, tuple)) else \
        [backbone.init_cfg] if backbone.init_cfg else []
    pretrained = [c for c in cfgs if c.get('type') in ('Pretrained', PretrainedInit)]
    if backbone.is_init or not pretrained:
        BaseModule.init_weights(backbone)
        return
    name = type(backbone).__name__
    if len(pretrained) > 1:
        raise ValueError(f'{name} init_cfg has {len(pretrained)} Pretrained entries; give one')
    others = [c for c in cfgs if c not in pretrained]
    saved, backbone.init_cfg = backbone.init_cfg, (others or None)
    try:
        BaseModule.init_weights(backbone)
    finally:
        backbone.init_cfg = saved
    cfg = pretrained[0]
    unsupported = set(cfg) - {'type', 'checkpoint', 'prefix', 'map_location'}
    if unsupported:
        raise ValueError(f'unsupported keys in the Pretrained init_cfg: {sorted(unsupported)}')
    load_fn(backbone, cfg['checkpoint'], prefix=cfg.get('prefix'))


def source_name(checkpoint) -> str:
    """How a checkpoint argument (path or state dict) is named in messages."""
    if isinstance(checkpoint, str) or hasattr(checkpoint, '__fspath__'):
        return str(checkpoint)
    return '<state dict>'


def load_encoder_state(backbone: nn.Module, checkpoint, prefix: Optional[str],
                       may_miss: 're.Pattern', resize, what_may_miss: str,
                       convert=None, also_ignore: Optional['re.Pattern'] = None
                       ) -> Dict[str, list]:
    """Strict encoder loading shared by the ViT backbones.

    Reads ``checkpoint`` (path or state dict) in any supported layout, drops
    the known-unused keys (``_IGNORED``), lets only keys matching ``may_miss``
    be absent, passes shape-mismatched tensors through ``resize(key, value,
    wanted_shape)`` and raises :class:`CheckpointError` naming the source for
    anything else. ``convert(state)``, if given, maps the official-layout state
    to the backbone's own key layout before the comparison; keys the backbone
    lacks that match ``also_ignore`` are dropped (and reported) like ``_IGNORED``.
    """
    source = source_name(checkpoint)
    ckpt = load_checkpoint_file(source) if source != '<state dict>' else checkpoint
    state = _to_official(_select(_unwrap(ckpt, source), prefix, source))
    if convert is not None:
        state = convert(state)
    own = backbone.state_dict()
    ignored = sorted(k for k in state if k not in own and (
        _IGNORED.match(k) or (also_ignore is not None and also_ignore.match(k))))
    state = {k: v for k, v in state.items() if k not in ignored}
    missing = sorted(set(own) - set(state))
    allowed = [k for k in missing if may_miss.match(k)]
    missing_other = [k for k in missing if not may_miss.match(k)]
    unexpected = sorted(set(state) - set(own))
    problems = []
    if missing_other:
        problems.append(f'{len(missing_other)} missing key(s): {_preview(missing_other)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): {_preview(unexpected)}')
    fixed, bad = {}, []
    for key, value in state.items():
        if key not in own:
            continue
        want = own[key].shape
        if value.shape != want:
            value = resize(key, value, want)
        if value.shape != want:
            bad.append(f'{key}: checkpoint {tuple(value.shape)} vs model {tuple(want)}')
        fixed[key] = value
    if bad:
        problems.append(f'{len(bad)} shape mismatch(es) (wrong arch?): '
                        + '; '.join(bad[:8]) + (' ...' if len(bad) > 8 else ''))
    name = type(backbone).__name__
    if problems:
        width = getattr(backbone, 'embed_dim', getattr(backbone, 'embed_dims', '?'))
        depth = getattr(backbone, 'depth', getattr(backbone, 'num_layers', '?'))
        raise CheckpointError(f'{source}: cannot load into {name} '
                              f'(embed_dim={width}, depth={depth}): ' + ' | '.join(problems))
    result = backbone.load_state_dict(fixed, strict=False)
    assert not result.unexpected_keys and sorted(result.missing_keys) == allowed
    print_log(f'{name}: loaded {len(fixed)} tensors from {source}; ignored '
              f'{_preview(ignored) or "nothing"}; {what_may_miss} at init: {len(allowed)}',
              logger='current')
    return dict(missing=allowed, ignored=ignored)
