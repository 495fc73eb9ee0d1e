"""Strict loading of whole-model checkpoints (teachers of the task stages)."""
from typing import Dict, Mapping, Optional, Union

import torch
import torch.nn as nn

from ...engine.safe_checkpoint import (CheckpointError, load_checkpoint_file,
                                       state_dict_problems)


def state_dict_from_file(path: str, trust_pickle: bool = False) -> Dict[str, torch.Tensor]:
    """The tensor state dict of an mmengine (``state_dict``), official (``model``)
    or bare checkpoint file, read with ``weights_only=True`` unless
    ``trust_pickle`` (see :func:`load_checkpoint_file`)."""
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
