"""mmseg 1.x ``MAE`` UperNet checkpoints <-> g2sd_mm's ``ViTRelPos`` UperNet.

mmseg's model zoo MAE ViT-B UperNet (ADE20K, 48.13 mIoU; stock config
``mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py``) is an
``EncoderDecoder`` whose backbone is mmseg's ``MAE`` (BEiT blocks with a
per-block relative position bias and layer scale, no final norm). Its neck
(``Feature2Pyramid``), decode head (``UPerHead``) and auxiliary head
(``FCNHead``) are the modules g2sd_mm's UperNet configs use, so only backbone
keys are renamed:

================================================  ==================================================
mmseg ``MAE``                                     g2sd_mm ``ViTRelPos``
================================================  ==================================================
``backbone.patch_embed.projection.*``             ``backbone.patch_embed.proj.*``
``backbone.layers.N.ln1.*`` / ``ln2.*``           ``backbone.blocks.N.norm1.*`` / ``norm2.*``
``backbone.layers.N.attn.{qkv,proj}.*``           ``backbone.blocks.N.attn.{qkv,proj}.*``
``backbone.layers.N.attn.relative_position_``     ``backbone.blocks.N.rel_pos.relative_position_``
``bias_table``                                    ``bias_table``
``backbone.layers.N.ffn.layers.0.0.*`` / ``.1.*``  ``backbone.blocks.N.mlp.fc1.*`` / ``fc2.*``
``backbone.layers.N.gamma_1`` / ``gamma_2``       ``backbone.blocks.N.ls1.gamma`` / ``ls2.gamma``
================================================  ==================================================

Both sides order a relative-position table the BEiT way: ``(2Wh-1)(2Ww-1)``
spatial rows, then class-to-token, token-to-class and class-to-class (the
"extra 3 entries"), so tables are copied unchanged. mmseg stores each block's
``relative_position_index`` buffer; it is checked against the standard BEiT
index and dropped (``ViTRelPos`` rebuilds it). ``backbone.ln1`` (``final_norm=True``)
and ``backbone.patch_embed.norm`` (``patch_norm=True``) have no counterpart and
are refused.

The rename helpers here (:func:`rename_keys`, :func:`check_rel_pos_index`) are
shared with :mod:`g2sd_mm.checkpoint.layouts.beit_mmseg0x`.
"""
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from timm.layers import gen_relative_position_index

from ..errors import CheckpointError

__all__ = ['MMSEG_MAE_PAIRS', 'mmseg_mae_to_g2sd', 'g2sd_to_mmseg_mae', 'is_mmseg_mae_layout',
           'rename_keys', 'drop_rel_pos_indices', 'check_rel_pos_index', 'rel_pos_window']

# (mmseg 1.x, g2sd_mm) templates; {i} = block index, {w} = weight | bias,
# {p} = any parameter or buffer name of a module kept as it is.
_BLOCK = [
    ('ln1.{w}', 'norm1.{w}'),
    ('attn.qkv.{w}', 'attn.qkv.{w}'),
    ('attn.proj.{w}', 'attn.proj.{w}'),
    ('attn.relative_position_bias_table', 'rel_pos.relative_position_bias_table'),
    ('ln2.{w}', 'norm2.{w}'),
    ('ffn.layers.0.0.{w}', 'mlp.fc1.{w}'),
    ('ffn.layers.1.{w}', 'mlp.fc2.{w}'),
    ('gamma_1', 'ls1.gamma'),
    ('gamma_2', 'ls2.gamma'),
]
MMSEG_MAE_PAIRS: List[Tuple[str, str]] = [
    ('backbone.cls_token', 'backbone.cls_token'),
    ('backbone.pos_embed', 'backbone.pos_embed'),
    ('backbone.patch_embed.projection.{w}', 'backbone.patch_embed.proj.{w}'),
    ('neck.{p}', 'neck.{p}'),
    ('decode_head.{p}', 'decode_head.{p}'),
    ('auxiliary_head.{p}', 'auxiliary_head.{p}'),
] + [(f'backbone.layers.{{i}}.{a}', f'backbone.blocks.{{i}}.{b}') for a, b in _BLOCK]
_MMSEG_INDEX = re.compile(r'backbone\.layers\.(\d+)\.attn\.relative_position_index$')
_REFUSED = {
    'backbone.ln1.': 'a final norm (final_norm=True), which ViTRelPos does not have',
    'backbone.patch_embed.norm.': 'a patch-embedding norm (patch_norm=True), which ViTRelPos '
                                  'does not have',
}


def _compile(template: str) -> 're.Pattern':
    pattern = re.escape(template)
    pattern = (pattern.replace(r'\{i\}', r'(?P<i>\d+)')
               .replace(r'\{w\}', r'(?P<w>weight|bias)')
               .replace(r'\{p\}', r'(?P<p>.+)'))
    return re.compile(pattern + '$')


def rename_keys(state: Mapping[str, torch.Tensor], pairs: Sequence[Tuple[str, str]],
                source: str, what: str, reverse: bool = False,
                hints: Optional[Mapping[str, str]] = None) -> Dict[str, torch.Tensor]:
    """Rename every key of ``state`` with the ``(source, target)`` templates.

    Raises:
        CheckpointError: naming ``source`` and every key no template matches
            (with the reason from ``hints`` for keys under a known prefix), or
            two keys that map to the same name.
    """
    table = [(_compile(b if reverse else a), a if reverse else b) for a, b in pairs]
    out: Dict[str, torch.Tensor] = {}
    leftovers: List[str] = []
    for key, value in state.items():
        for regex, template in table:
            match = regex.match(key)
            if match:
                new = template.format(**match.groupdict())
                if new in out:
                    raise CheckpointError(f'{source}: two {what} keys map to {new}')
                out[new] = value
                break
        else:
            leftovers.append(key)
    if leftovers:
        reasons = []
        for prefix, why in (hints or {}).items():
            hit = [k for k in leftovers if k.startswith(prefix)]
            if hit:
                reasons.append(f'{prefix}* is {why}')
        more = f' ({"; ".join(reasons)})' if reasons else ''
        raise CheckpointError(f'{source}: {len(leftovers)} key(s) have no {what} mapping{more}: '
                              f'{_fold(leftovers)}')
    return out


def _fold(keys: Iterable[str], limit: int = 12) -> str:
    """Sorted key list with block indices folded (``layers.{0-11}.gamma_1``)."""
    folded: Dict[str, set] = {}
    for key in sorted(keys):
        m = re.match(r'(.*?(?:blocks|layers))\.(\d+)\.(.*)', key)
        name = f'{m.group(1)}.{{i}}.{m.group(3)}' if m else key
        folded.setdefault(name, set()).update([int(m.group(2))] if m else [])
    parts = []
    for name, idx in folded.items():
        if idx:
            span = f'{{{min(idx)}-{max(idx)}}}' if len(idx) > 1 else str(min(idx))
            name = name.replace('{i}', span)
        parts.append(name)
    more = f' ... (+{len(parts) - limit} more)' if len(parts) > limit else ''
    return ', '.join(parts[:limit]) + more


def rel_pos_window(table_rows: int, tokens: int) -> Tuple[int, int]:
    """The ``(Wh, Ww)`` patch window of a BEiT table with ``table_rows`` rows
    whose index covers ``tokens`` = ``1 + Wh*Ww`` positions."""
    patches = tokens - 1
    for wh in range(1, patches + 1):
        if patches % wh == 0:
            ww = patches // wh
            if (2 * wh - 1) * (2 * ww - 1) + 3 == table_rows:
                return wh, ww
    raise CheckpointError(f'a relative-position table of {table_rows} rows does not fit an '
                          f'index over {tokens} tokens (1 + Wh*Ww)')


def check_rel_pos_index(index: torch.Tensor, table_rows: int, key: str, source: str) -> None:
    """Raise unless ``index`` is the standard BEiT index (class token first,
    the three class entries last in the table) for the table's window, the
    index ``ViTRelPos`` builds; only then can the table be copied unchanged."""
    if index.dim() != 2 or index.shape[0] != index.shape[1]:
        raise CheckpointError(f'{source}: {key} has shape {tuple(index.shape)}, not a square '
                              'index')
    try:
        window = rel_pos_window(table_rows, index.shape[0])
    except CheckpointError as e:
        raise CheckpointError(f'{source}: {key}: {e}') from None
    want = gen_relative_position_index(window, class_token=True)
    if not torch.equal(index.to(want.dtype), want):
        raise CheckpointError(f'{source}: {key} is not the BEiT relative-position index of a '
                              f'{window[0]}x{window[1]} window with a class token; its table '
                              'cannot be copied')


def is_mmseg_mae_layout(keys: Iterable[str]) -> bool:
    """True for an mmseg ``MAE``/``BEiT`` segmentor (``backbone.layers.N.gamma_1``)."""
    return any(re.match(r'backbone\.layers\.\d+\.gamma_1$', k) for k in keys)


def drop_rel_pos_indices(state: Mapping[str, torch.Tensor], pattern: 're.Pattern',
                         table_key: str, source: str) -> Dict[str, torch.Tensor]:
    """Check every ``relative_position_index`` buffer against its block's table and drop it."""
    out = {}
    for key, value in state.items():
        match = pattern.match(key)
        if match is None:
            out[key] = value
            continue
        table = state.get(table_key.format(i=match.group(1)))
        if table is None:
            raise CheckpointError(f'{source}: {key} has no relative-position table beside it')
        check_rel_pos_index(value, table.shape[0], key, source)
    return out


def mmseg_mae_to_g2sd(state: Mapping[str, torch.Tensor],
                      source: str = '<state dict>') -> Dict[str, torch.Tensor]:
    """mmseg 1.x ``MAE`` UperNet state dict -> g2sd_mm ``ViTRelPos`` UperNet state dict.

    Every key is used: renamed, passed through (neck and heads), or a checked
    ``relative_position_index`` buffer. Tensors are not copied.

    Raises:
        CheckpointError: naming ``source`` and the keys without a mapping
            (e.g. ``backbone.ln1.*`` of ``final_norm=True``), or an index
            buffer that is not the standard one.
    """
    state = drop_rel_pos_indices(
        state, _MMSEG_INDEX, 'backbone.layers.{i}.attn.relative_position_bias_table', source)
    return rename_keys(state, MMSEG_MAE_PAIRS, source, 'mmseg MAE -> g2sd_mm',
                       hints=_REFUSED)


def g2sd_to_mmseg_mae(state: Mapping[str, torch.Tensor],
                      source: str = '<state dict>') -> Dict[str, torch.Tensor]:
    """g2sd_mm ``ViTRelPos`` UperNet state dict -> mmseg 1.x ``MAE`` UperNet
    state dict, with the ``relative_position_index`` buffers mmseg's
    ``MAE`` stores (its ``load_state_dict`` is then strict-clean)."""
    out = rename_keys(state, MMSEG_MAE_PAIRS, source, 'g2sd_mm -> mmseg MAE', reverse=True)
    tokens = state['backbone.pos_embed'].shape[1] if 'backbone.pos_embed' in state else None
    for key in list(out):
        match = re.match(r'backbone\.layers\.(\d+)\.attn\.relative_position_bias_table$', key)
        if match and tokens is not None:
            window = rel_pos_window(out[key].shape[0], tokens)
            out[f'backbone.layers.{match.group(1)}.attn.relative_position_index'] = \
                gen_relative_position_index(window, class_token=True)
    return out
