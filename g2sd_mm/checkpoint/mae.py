"""Strict loading of MAE-layout weights into :class:`MaskedAutoencoderViT`.

Accepted files (detected from their keys):

* official MAE (``ckpt['model']``): full checkpoints such as
  ``mae_pretrain_vit_base_full.pth`` (the G2SD teacher) or
  ``mae_visualize_vit_base.pth`` carry the decoder; ``mae_pretrain_vit_base.pth``
  is encoder-only and is refused for a teacher;
* mmpretrain MAE (``ckpt['state_dict']`` with ``backbone.*``/``neck.*``);
* the G2SD reference stage-1 students (official layout plus
  ``decoderfeature_pred.*``, the projection MLP);
* g2sd_mm stage-1 checkpoints (``student.*`` and ``projector.*``);
* a bare state dict in the official layout.

Keys the model does not need are dropped only from a fixed list (decoder
blocks past the ones built, ``decoder_norm`` when unused, the pixel predictor
``decoder_pred`` and the reference's unused ``encoderfeature_pred``); any other
extra key, any missing key and any shape mismatch is an error naming the file.
"""
import re
from typing import Dict, Mapping, Optional, Tuple

import torch

from .errors import CheckpointError
from .io import load_checkpoint_file
from .layouts.mae import is_mmpretrain_layout, mmpretrain_to_official
from .resize import resize_cls_pos

__all__ = ['read_mae_checkpoint', 'load_mae_state_dict', 'load_mae_checkpoint',
           'PROJECTOR_PREFIXES']

PROJECTOR_PREFIXES = ('decoderfeature_pred.', 'projector.')
_POS_TABLES = ('pos_embed', 'decoder_pos_embed')


def read_mae_checkpoint(path: str, trust_pickle: bool = False
                        ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor], str]:
    """Read a checkpoint and return it in the official MAE layout.

    The file is read with ``weights_only=True`` unless ``trust_pickle`` (see
    :func:`load_checkpoint_file`).

    Returns:
        tuple: ``(model_state, projector_state, layout)``; ``projector_state``
        maps ``fc1.*``/``fc2.*`` and is empty when the file has no projector.
    """
    ckpt = load_checkpoint_file(path, trust_pickle=trust_pickle)
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(f'{path}: expected a dict checkpoint, got {type(ckpt).__name__}')
    if 'model' in ckpt and isinstance(ckpt['model'], Mapping):
        state, layout = dict(ckpt['model']), 'official'
    elif 'state_dict' in ckpt and isinstance(ckpt['state_dict'], Mapping):
        state, layout = dict(ckpt['state_dict']), 'mmengine'
    else:
        state, layout = dict(ckpt), 'plain'
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f'{path}: no tensor state dict found (top-level keys: '
                              f'{sorted(ckpt)[:10]})')
    if any(k.startswith('student.') for k in state):  # a g2sd_mm stage-1 checkpoint
        layout = 'g2sd_mm'
        state = {k[len('student.'):] if k.startswith('student.') else k: v
                 for k, v in state.items()
                 if k.startswith(('student.', 'projector.'))}
    elif is_mmpretrain_layout(state):
        layout = 'mmpretrain'
        try:
            state = mmpretrain_to_official(state)
        except KeyError as e:
            raise CheckpointError(f'{path}: {e.args[0]}') from e
    if any(k.startswith('decoderfeature_pred.') for k in state):
        layout = 'g2sd_reference'
    projector = {}
    for key in list(state):
        for prefix in PROJECTOR_PREFIXES:
            if key.startswith(prefix):
                projector[key[len(prefix):]] = state.pop(key)
    return state, projector, layout


def _unused_patterns(model) -> list:
    pats = [r'decoder_pred\.', r'encoderfeature_pred\.', r'head\.', r'fc_norm\.']
    pats.append(r'decoder_blocks\.(\d+)\.')  # filtered by index below
    if model.decoder_norm is None:
        pats.append(r'decoder_norm\.')
    return [re.compile(p) for p in pats]


def _is_known_unused(key: str, model, patterns) -> bool:
    for pat in patterns:
        match = pat.match(key)
        if not match:
            continue
        if match.groups():
            return int(match.group(1)) >= model.decoder_depth
        return True
    return False


def load_mae_state_dict(model, state: Mapping[str, torch.Tensor], source: str,
                        role: str = 'model') -> None:
    """Strictly load an official-layout state dict into a ``MaskedAutoencoderViT``.

    Position tables on another (square) grid are resampled bicubically.

    Raises:
        CheckpointError: missing keys (with a hint for encoder-only MAE files),
            unexpected keys or shape mismatches, naming ``source``.
    """
    own = model.state_dict()
    patterns = _unused_patterns(model)
    state = {k: v for k, v in state.items() if not _is_known_unused(k, model, patterns)}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing:
        hint = ''
        if all(k.startswith(('decoder', 'mask_token')) for k in missing):
            hint = (' The file has no MAE decoder: it looks like an encoder-only checkpoint '
                    '(e.g. mae_pretrain_vit_base.pth). G2SD needs the full MAE checkpoint with '
                    'the decoder (e.g. mae_pretrain_vit_base_full.pth, or an mmpretrain MAE '
                    'pretraining checkpoint).')
        elif role == 'teacher' and any(k.startswith('decoder_blocks.') for k in missing):
            hint = ' The file has fewer decoder blocks than the teacher needs.'
        raise CheckpointError(f'{source}: {len(missing)} {role} key(s) missing from the '
                              f'checkpoint: {_preview(missing)}.{hint}')
    if unexpected:
        raise CheckpointError(f'{source}: {len(unexpected)} unexpected key(s) for the {role}: '
                              f'{_preview(unexpected)}')
    fixed, bad = {}, []
    for key, value in state.items():
        want = own[key].shape
        if value.shape != want and key in _POS_TABLES and value.dim() == 3:
            value = resize_cls_pos(value, model.grid_size, source, key)
        if value.shape != want:
            bad.append(f'{key}: checkpoint {tuple(value.shape)} vs model {tuple(want)}')
        fixed[key] = value
    if bad:
        raise CheckpointError(f'{source}: {len(bad)} shape mismatch(es) for the {role} '
                              f'(wrong architecture?): {_preview(bad)}')
    model.load_state_dict(fixed, strict=True)


def _preview(items, limit: int = 16) -> str:
    """Readable key list: block-indexed keys are folded, e.g. ``decoder_blocks.{0-3}.* (48)``."""
    items = list(items)
    groups, plain = {}, []
    for item in items:
        match = re.match(r'((?:decoder_)?blocks)\.(\d+)\.', item)
        if match:
            groups.setdefault(match.group(1), set()).add(int(match.group(2)))
        else:
            plain.append(item)
    folded = []
    for name, idx in groups.items():
        members = [i for i in items if re.match(rf'{name}\.\d+\.', i)]
        if len(idx) == 1:
            folded.extend(members)
        else:
            folded.append(f'{name}.{{{min(idx)}-{max(idx)}}}.* ({len(members)} keys)')
    parts = plain + folded
    more = f' ... (+{len(parts) - limit} more)' if len(parts) > limit else ''
    return ', '.join(parts[:limit]) + more


def load_mae_checkpoint(model, path: str, role: str = 'model',
                        projector: Optional[torch.nn.Module] = None) -> str:
    """Read ``path`` and strictly load it into ``model`` (and ``projector`` if given).

    Returns:
        str: the detected layout (``official``, ``mmpretrain``, ``g2sd_mm``, ...).
    """
    state, proj_state, layout = read_mae_checkpoint(path)
    load_mae_state_dict(model, state, path, role)
    if projector is not None and proj_state:
        try:
            projector.load_state_dict(proj_state, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f'{path}: projector weights do not fit: {e}') from e
    return layout
