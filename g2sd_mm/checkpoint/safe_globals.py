"""Allow-list what mmengine checkpoints contain for torch's ``weights_only`` loads.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it only
rebuilds tensors, containers and explicitly allow-listed classes. mmengine
0.10.7 checkpoints carry a ``message_hub`` with :class:`HistoryBuffer` objects
(numpy arrays inside, and a dict of bound statistics methods pickled as
``getattr(HistoryBuffer, 'mean')``), so resuming fails with an
``UnpicklingError``.

Instead of turning ``weights_only`` off (which would let any checkpoint run
arbitrary code), :func:`allow_mmengine_globals` allow-lists exactly what
mmengine writes:

* ``HistoryBuffer`` and the numpy pieces needed to rebuild its arrays;
* ``builtins.getattr`` replaced by :func:`_history_buffer_getattr`, which only
  resolves public methods of ``HistoryBuffer`` and refuses everything else.
"""
import pickle
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ['allow_mmengine_globals']


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


def allow_mmengine_globals() -> None:
    """Add mmengine's logging state to torch's ``weights_only`` allow-list."""
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals())
