"""Read a raw pickle file (e.g. a detectron2 ``.pkl`` model) without running code.

The unpickler admits plain containers and scalars (dict, list, tuple, str,
bytes, int, float, bool, None, ``collections.OrderedDict``; ``_codecs.encode``
for bytes in protocol 2) and the numpy
globals needed to rebuild arrays and dtypes. Any other global (a class, a
function such as ``os.system``) is refused before it is resolved, so nothing
in the file can run.
"""
import pickle
from typing import Any

from .errors import CheckpointError, UnsafeCheckpointError

__all__ = ['read_restricted_pickle']

_ALLOWED = {
    ('_codecs', 'encode'),  # how protocol 2 stores bytes (as torch's weights-only reader allows)
    ('collections', 'OrderedDict'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', 'scalar'),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the globals in ``_ALLOWED``."""

    def __init__(self, file, path: str):
        # latin1: numpy arrays pickled by Python 2 carry their data as str
        super().__init__(file, encoding='latin1')
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise UnsafeCheckpointError(
                f'{self.path}: refused to unpickle (global {module}.{name} is not allowed). '
                'The file holds objects other than arrays and plain containers, which could '
                'run code when loaded; if you trust its source, load it with '
                'trust_pickle=True (the converters in tools/model_converters take '
                '--trust-pickle) and save its tensors.')
        if module == 'numpy._core.multiarray':  # numpy 2 pickles read by numpy 1
            module = 'numpy.core.multiarray'
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeCheckpointError(f'{self.path}: refused to unpickle (persistent id {pid!r}; '
                                    'raw pickles hold no external references)')


def read_restricted_pickle(path: str) -> Any:
    """Unpickle ``path`` admitting only containers, scalars and numpy arrays.

    Raises:
        UnsafeCheckpointError: the file references any other global.
        CheckpointError: the pickle data is damaged or truncated.
    """
    try:
        with open(path, 'rb') as f:
            return _RestrictedUnpickler(f, path).load()
    except CheckpointError:
        raise
    except (OSError, MemoryError) as e:
        raise CheckpointError(f'{path}: cannot read the file: {e}') from e
    except Exception as e:  # noqa: BLE001 - damaged data raises nearly anything
        raise CheckpointError(f'{path}: cannot read checkpoint (truncated or not a torch '
                              f'checkpoint?): damaged pickle data ({type(e).__name__}: '
                              f'{e})') from e
