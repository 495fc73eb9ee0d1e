"""Strict loading of whole-model checkpoints (teachers of the task stages)."""
from typing import Dict, Mapping

import torch
import torch.nn as nn

from ...engine.safe_checkpoint import CheckpointError, load_checkpoint_file


def _preview(keys, limit: int = 12) -> str:
    keys = sorted(keys)
    more = f' ... (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def state_dict_from_file(path: str) -> Dict[str, torch.Tensor]:
    """The tensor state dict of an mmengine (``state_dict``), official (``model``)
    or bare checkpoint file, read with ``weights_only=True``."""
    ckpt = load_checkpoint_file(path)
    if isinstance(ckpt, Mapping):
        for key in ('state_dict', 'model'):
            if isinstance(ckpt.get(key), Mapping):
                ckpt = ckpt[key]
                break
    if not isinstance(ckpt, Mapping) or not ckpt or not all(
            isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise CheckpointError(f'{path}: no tensor state dict found')
    return dict(ckpt)


def load_state_dict_strict(module: nn.Module, path: str, role: str = 'model') -> None:
    """Load ``path`` into ``module`` with no missing, unexpected or mis-shaped key.

    Raises:
        CheckpointError: naming the file and the offending keys, e.g. a teacher
            checkpoint that belongs to another architecture or config.
    """
    state = state_dict_from_file(path)
    own = module.state_dict()
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    bad = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
           for k in set(own) & set(state) if state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing key(s): {_preview(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): {_preview(unexpected)}')
    if bad:
        problems.append(f'{len(bad)} shape mismatch(es): {_preview(bad)}')
    if problems:
        raise CheckpointError(f'{path} does not match the {role} config: ' + '; '.join(problems))
    module.load_state_dict(state, strict=True)
