"""Safe checkpoint loading on torch >= 2.6 (the one place g2sd_mm touches it).

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it only
rebuilds tensors, containers and explicitly allow-listed classes. mmengine
0.10.7 calls ``torch.load(filename, map_location=...)`` when resuming, and its
checkpoints carry a ``message_hub`` with :class:`HistoryBuffer` objects (numpy
arrays inside, and a dict of bound statistics methods pickled as
``getattr(HistoryBuffer, 'mean')``). Resuming therefore fails with an
``UnpicklingError``.

Instead of turning ``weights_only`` off (which would let any checkpoint run
arbitrary code), :func:`register_safe_globals` allow-lists exactly what
mmengine writes:

* ``HistoryBuffer`` and the numpy pieces needed to rebuild its arrays;
* ``builtins.getattr`` replaced by :func:`_history_buffer_getattr`, which only
  resolves public methods of ``HistoryBuffer`` and refuses everything else.

It is called once when ``g2sd_mm`` is imported (so also through
``custom_imports`` in a config). Files that carry anything else (arbitrary
pickled objects or code) are refused; :func:`load_checkpoint_file` is the
loader g2sd_mm uses for weights and adds a clear error naming the file.

It also routes mmengine's loading of local files (``CheckpointLoader``'s
default scheme, behind ``resume``, ``load_from``, ``tools/test.py``, the
``Pretrained`` init of stock backbones and ``mmengine.runner.load_checkpoint``)
through :func:`load_checkpoint_file`. mmengine calls ``torch.load`` without
``weights_only``, so its safety would rest on torch's default, which the
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` environment variable (or a torch older
than 2.6) turns off; the explicit ``weights_only=True`` cannot be turned off
that way, and a truncated or unsafe file gives an error naming it.
"""
import os
import pickle
import re
from typing import Any, List, Mapping, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = ['register_safe_globals', 'load_checkpoint_file', 'check_checkpoint_fits',
           'CheckpointError', 'UnsafeCheckpointError']


class CheckpointError(RuntimeError):
    """A checkpoint could not be used; the message names the file and the cause."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint holds objects other than tensors and mmengine's logging
    state (possibly code); it was not unpickled."""


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Restricted stand-in for ``builtins.getattr`` inside checkpoints."""
    if obj is HistoryBuffer and not name.startswith('_') and callable(
            getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only '
        'public HistoryBuffer methods may be resolved')


def _numpy_globals() -> list:
    names = []
    # numpy < 2 keeps the pickling helpers in ``numpy.core``, numpy 2 in ``numpy._core``.
    if int(np.__version__.split('.')[0]) >= 2:
        from numpy._core import multiarray
    else:
        from numpy.core import multiarray
    names += [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        names += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return names


_REGISTERED = False


def register_safe_globals() -> None:
    """Allow-list what mmengine checkpoints contain for ``weights_only`` loads and
    send mmengine's local checkpoint loading through :func:`load_checkpoint_file`
    (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals())
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    _REGISTERED = True


def load_from_local(filename: str, map_location=None) -> Any:
    """mmengine's loader for local paths, reading with :func:`load_checkpoint_file`.

    Named as mmengine's own, whose log line ("Loads checkpoint by local
    backend") is derived from the function name.
    """
    return load_checkpoint_file(os.path.expanduser(filename), map_location=map_location)


def _unpickler_reason(err: Exception) -> str:
    """The specific reason inside torch's long weights-only error message."""
    text = str(err)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        text = text.split(marker, 1)[1].strip()
        text = text.split('\n\n', 1)[0].strip() or str(err)
        # torch goes on to suggest allow-listing the global: not for an unknown file
        return text.split(' Please use `torch.serialization.add_safe_globals', 1)[0]
    return text.strip().splitlines()[0] if text.strip() else repr(err)


def load_checkpoint_file(path: str, map_location: Optional[str] = 'cpu',
                         trust_pickle: bool = False) -> Any:
    """Load a checkpoint file safely.

    Args:
        path (str): checkpoint path.
        map_location: passed to ``torch.load``.
        trust_pickle (bool): load with ``weights_only=False``. Only for files
            from a trusted source: unpickling can run arbitrary code.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointError: it is truncated/corrupt or holds objects other than
            tensors, containers and mmengine's logging state.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    register_safe_globals()
    try:
        return torch.load(path, map_location=map_location, weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f'{path}: refused to unpickle ({_unpickler_reason(e)}). The file holds '
            'objects other than tensors, which could run code when loaded; if you '
            'trust its source, load it with trust_pickle=True (the converters in '
            'tools/model_converters take --trust-pickle) and save its tensors.') from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f'{path}: cannot read checkpoint (truncated or not a torch '
                              f'checkpoint?): {e}') from e


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


def check_checkpoint_fits(model: torch.nn.Module, path: str, what: str = 'the model') -> None:
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
