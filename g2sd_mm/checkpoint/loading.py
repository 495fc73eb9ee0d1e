"""Strict loading of checkpoint weights into models, with a report.

* :func:`unwrap_state_dict` / :func:`select_prefix`: the tensor state dict
  inside a checkpoint (``state_dict``, ``model`` or bare; ``module.`` or a
  detected sub-model prefix stripped);
* :func:`load_encoder_state`: the strict ViT-encoder loader shared by the
  backbone loaders of :mod:`.vit_backbones` (known-unused keys dropped and
  reported, only listed keys may be missing, position tables resized, every
  other mismatch an error naming the file);
* :func:`run_init_cfg`: a backbone's ``init_cfg`` with its ``Pretrained`` entry
  sent to such a strict loader instead of mmengine's non-strict one;
* :func:`load_state_dict_strict` / :func:`check_checkpoint_fits`: whole-model
  checkpoints (task teachers, ``tools/test.py``) with no missing, unexpected
  or mis-shaped key.
"""
import re
from typing import Callable, Dict, List, Mapping, Optional, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import PretrainedInit

from .errors import CheckpointError
from .io import load_checkpoint_file
from .layouts.mae import mmpretrain_encoder_to_official

__all__ = ['unwrap_state_dict', 'select_prefix', 'source_name', 'preview_keys',
           'load_encoder_state', 'run_init_cfg', 'state_dict_problems', 'state_dict_from_file',
           'load_state_dict_strict', 'check_checkpoint_fits', 'IGNORED_ENCODER_KEYS']

# Keys of MAE / timm / G2SD-reference checkpoints that a ViT encoder backbone
# does not use: the class token (when the model has none), the final norm and
# classifier, the MAE decoder, and the reference stage-1 projection heads.
IGNORED_ENCODER_KEYS = re.compile(r'(cls_token|mask_token|norm\.|fc_norm\.|head\.|decoder'
                                  r'|encoderfeature_pred\.)')
# Prefixes tried, in order, when a checkpoint has no bare encoder keys.
_AUTO_PREFIXES = ('student.backbone.', 'backbone.', 'student.')


def source_name(checkpoint) -> str:
    """How a checkpoint argument (path or state dict) is named in messages."""
    if isinstance(checkpoint, str) or hasattr(checkpoint, '__fspath__'):
        return str(checkpoint)
    return '<state dict>'


def unwrap_state_dict(ckpt, source: str) -> Dict[str, torch.Tensor]:
    """The tensor state dict of a checkpoint: ``ckpt['state_dict']``,
    ``ckpt['model']`` or ``ckpt`` itself; every value must be a tensor."""
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


def select_prefix(state: Dict[str, torch.Tensor], prefix: Optional[str],
                  source: str) -> Dict[str, torch.Tensor]:
    """Keep the keys under ``prefix`` (stripped). ``None`` detects it: the first
    of ``student.backbone.``, ``backbone.``, ``student.`` present when the
    state has no bare encoder keys (``blocks.``, ``patch_embed.``, ``layers.``)."""
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


def preview_keys(keys, limit: int = 12) -> str:
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


def load_encoder_state(backbone: nn.Module, checkpoint, prefix: Optional[str],
                       may_miss: 're.Pattern', resize: Callable, what_may_miss: str,
                       convert: Optional[Callable] = None,
                       also_ignore: Optional['re.Pattern'] = None) -> Dict[str, List[str]]:
    """Strict encoder loading shared by the ViT backbones.

    Reads ``checkpoint`` (path or state dict) in any supported layout (official
    MAE / timm, mmpretrain ``VisionTransformer``, under a detected prefix),
    drops the known-unused keys (``IGNORED_ENCODER_KEYS``), lets only keys
    matching ``may_miss`` be absent, passes shape-mismatched tensors through
    ``resize(key, value, wanted_shape)`` and raises :class:`CheckpointError`
    naming the source for anything else. ``convert(state)``, if given, maps the
    official-layout state to the backbone's own key layout before the
    comparison; keys the backbone lacks that match ``also_ignore`` are dropped
    (and reported) like ``IGNORED_ENCODER_KEYS``.

    Returns:
        dict: ``loaded`` (model keys set from the checkpoint), ``missing``
        (model keys left at init) and ``ignored`` (checkpoint keys dropped).
    """
    source = source_name(checkpoint)
    ckpt = load_checkpoint_file(source) if source != '<state dict>' else checkpoint
    state = mmpretrain_encoder_to_official(select_prefix(unwrap_state_dict(ckpt, source),
                                                         prefix, source))
    if convert is not None:
        state = convert(state)
    own = backbone.state_dict()
    ignored = sorted(k for k in state if k not in own and (
        IGNORED_ENCODER_KEYS.match(k) or (also_ignore is not None and also_ignore.match(k))))
    state = {k: v for k, v in state.items() if k not in ignored}
    missing = sorted(set(own) - set(state))
    allowed = [k for k in missing if may_miss.match(k)]
    missing_other = [k for k in missing if not may_miss.match(k)]
    unexpected = sorted(set(state) - set(own))
    problems = []
    if missing_other:
        problems.append(f'{len(missing_other)} missing key(s): {preview_keys(missing_other)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): {preview_keys(unexpected)}')
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
    if result.unexpected_keys or sorted(result.missing_keys) != allowed:
        raise CheckpointError(f'{source}: {name} reported missing {result.missing_keys} / '
                              f'unexpected {result.unexpected_keys} keys after the check')
    print_log(f'{name}: loaded {len(fixed)} tensors from {source}; ignored '
              f'{preview_keys(ignored) or "nothing"}; {what_may_miss} at init: {len(allowed)}',
              logger='current')
    return dict(loaded=sorted(fixed), missing=allowed, ignored=ignored)


def run_init_cfg(backbone: BaseModule, load_fn: Callable) -> None:
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


def _preview(keys, limit: int = 8) -> str:
    keys = sorted(keys)
    more = f' ... (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def state_dict_problems(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor],
                        limit: int = 8) -> List[str]:
    """What keeps ``state`` from loading strictly into a model whose state dict
    is ``own``: missing keys, unexpected keys, shape mismatches (empty: fits)."""
    missing, unexpected = set(own) - set(state), set(state) - set(own)
    bad = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
           for k in set(own) & set(state) if state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing key(s): {_preview(missing, limit)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): {_preview(unexpected, limit)}')
    if bad:
        problems.append(f'{len(bad)} shape mismatch(es): {_preview(bad, limit)}')
    return problems


def state_dict_from_file(path: str, trust_pickle: bool = False) -> Dict[str, torch.Tensor]:
    """The tensor state dict of an mmengine (``state_dict``), official (``model``)
    or bare checkpoint file, read with :func:`load_checkpoint_file` (no pickled
    code unless ``trust_pickle``)."""
    ckpt = load_checkpoint_file(path, trust_pickle=trust_pickle)
    if isinstance(ckpt, Mapping):
        for key in ('state_dict', 'model'):
            if isinstance(ckpt.get(key), Mapping):
                ckpt = ckpt[key]
                break
    if not isinstance(ckpt, Mapping) or not ckpt or not all(
            isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise CheckpointError(f'{path}: no tensor state dict found')
    return dict(ckpt)


def load_state_dict_strict(module: nn.Module, path: Union[str, Mapping[str, torch.Tensor]],
                           role: str = 'model', source: Optional[str] = None) -> None:
    """Load ``path`` (a file, or an already read state dict named ``source``)
    into ``module`` with no missing, unexpected or mis-shaped key.

    Raises:
        CheckpointError: naming the file and the offending keys, e.g. a teacher
            checkpoint that belongs to another architecture or config.
    """
    if isinstance(path, Mapping):
        state, path = dict(path), source or '<state dict>'
    else:
        state = state_dict_from_file(path)
    problems = state_dict_problems(module.state_dict(), state, limit=12)
    if problems:
        raise CheckpointError(f'{path} does not match the {role} config: ' + '; '.join(problems))
    module.load_state_dict(state, strict=True)


def check_checkpoint_fits(model: nn.Module, path: str, what: str = 'the model') -> None:
    """Raise unless the weights mmengine's ``Runner.load_checkpoint`` would take
    from ``path`` (``state_dict``, or the whole file; ``module.`` prefixes
    stripped) fit ``model`` exactly: no missing, unexpected or mis-shaped key.

    mmengine loads ``load_from`` non-strictly and only logs a warning, so a
    checkpoint of another architecture would be evaluated half-initialised.

    Raises:
        FileNotFoundError / CheckpointError: naming ``path`` and the keys.
    """
    ckpt = load_checkpoint_file(path)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, Mapping) else None
    if not isinstance(state, Mapping):
        raise CheckpointError(f'{path}: no state dict found (got {type(ckpt).__name__})')
    state = {re.sub(r'^module\.', '', str(k)): v for k, v in state.items()
             if isinstance(v, torch.Tensor)}
    problems = state_dict_problems(model.state_dict(), state)
    if problems:
        raise CheckpointError(f'{path} does not fit {what} ({type(model).__name__}): '
                              + '; '.join(problems))
