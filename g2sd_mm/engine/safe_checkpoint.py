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
``custom_imports`` in a config) and only adds to torch's allow-list. Files that
carry anything else (arbitrary pickled objects or code) are still refused by
torch; :func:`load_checkpoint_file` is the loader g2sd_mm uses for weights and
adds a clear error naming the file.
"""
import os
import pickle
from typing import Any, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ['register_safe_globals', 'load_checkpoint_file', 'CheckpointError']


class CheckpointError(RuntimeError):
    """A checkpoint could not be used; the message names the file and the cause."""


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
    """Allow-list what mmengine checkpoints contain for ``weights_only`` loads (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals())
    _REGISTERED = True


def _unpickler_reason(err: Exception) -> str:
    """The specific reason inside torch's long weights-only error message."""
    text = str(err)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        text = text.split(marker, 1)[1].strip()
        return text.split('\n\n', 1)[0].strip() or str(err)
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
        raise CheckpointError(
            f'{path}: refused to unpickle ({_unpickler_reason(e)}). The file holds '
            'objects other than tensors; if you trust its source, load it with '
            'trust_pickle=True.') from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f'{path}: cannot read checkpoint (truncated or not a torch '
                              f'checkpoint?): {e}') from e
