"""Read plain-data pickles (detectron2 ``.pkl`` weights) without general unpickling.

detectron2's model zoo ships weights as Python pickles of
``{'model': {name: numpy.ndarray}, '__author__': str, ...}``. ``pickle.load``
would call any global the file names, i.e. run arbitrary code. The
:class:`RestrictedUnpickler` here resolves only the globals needed to rebuild
containers, numbers, strings and numpy arrays/scalars:

* ``collections.OrderedDict``;
* ``numpy.ndarray``, ``numpy.dtype`` and the ``numpy.dtypes.*DType`` classes;
* ``numpy.core.multiarray._reconstruct`` / ``scalar`` and
  ``numpy.core.numeric._frombuffer`` (arrays in protocol 5) under their
  numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) module names, whichever
  the file names, resolved to the installed numpy;
* ``_codecs.encode`` (how protocol-2 pickles written by Python 3 store
  ``bytes``), restricted to the latin-1 codec.

Every other global is refused with :class:`RestrictedPickleError` naming the
file and the global, before anything is called. Files are read with
``encoding='latin1'`` as detectron2 does, so Python 2 pickles of numpy arrays
load too.
"""
import codecs
import collections
import io
import os
import pickle
from typing import Any, Callable, Dict, Tuple, Union

import numpy as np

from .errors import CheckpointError, UnsafeCheckpointError

__all__ = ['read_restricted_pickle', 'RestrictedPickleError', 'RestrictedUnpickler']


class RestrictedPickleError(UnsafeCheckpointError):
    """A pickle names a global outside the plain-data allow-list; nothing was called."""


def _numpy_core():
    try:  # numpy >= 2
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric
    return multiarray, numeric


def _latin1_encode(text: str, encoding: str = 'utf-8', errors: str = 'strict') -> bytes:
    """``_codecs.encode`` limited to latin-1 (protocol-2 ``bytes``)."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != 'iso8859-1' \
            or errors != 'strict':
        raise RestrictedPickleError(
            f'refused _codecs.encode({type(text).__name__}, {encoding!r}, {errors!r}): only '
            'latin-1 text (how pickle protocol 2 stores bytes) is allowed')
    return codecs.encode(text, 'latin1')


def _allowed_globals() -> Dict[Tuple[str, str], Callable]:
    multiarray, numeric = _numpy_core()
    allowed: Dict[Tuple[str, str], Callable] = {
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('numpy', 'ndarray'): np.ndarray,
        ('numpy', 'dtype'): np.dtype,
        ('_codecs', 'encode'): _latin1_encode,
    }
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed[(module, '_reconstruct')] = multiarray._reconstruct
        allowed[(module, 'scalar')] = multiarray.scalar
    for module in ('numpy.core.numeric', 'numpy._core.numeric'):
        allowed[(module, '_frombuffer')] = numeric._frombuffer
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in dir(dtypes):
            if name.endswith('DType'):
                allowed[('numpy.dtypes', name)] = getattr(dtypes, name)
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only plain-data globals (see module doc).

    Args:
        file: binary file object.
        source (str): name used in error messages (the file path).
    """

    _ALLOWED = None

    def __init__(self, file, source: str = '<bytes>'):
        super().__init__(file, encoding='latin1')
        self.source = source
        if RestrictedUnpickler._ALLOWED is None:
            RestrictedUnpickler._ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        found = self._ALLOWED.get((module, name))
        if found is None:
            raise RestrictedPickleError(
                f'{self.source}: refused to unpickle (global {module}.{name} is not allowed): '
                'only plain containers, numbers, strings and numpy arrays are read from a '
                'weights pickle (anything else could run code); if you trust its source, load '
                'it with trust_pickle=True (the converters in tools/model_converters take '
                '--trust-pickle)')
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise RestrictedPickleError(
            f'{self.source}: refused a persistent id in the pickle ({type(pid).__name__}); '
            'plain-data weights pickles have none (is this a torch checkpoint?)')


def read_restricted_pickle(path: Union[str, 'os.PathLike']) -> Any:
    """Unpickle ``path`` allowing only plain data and numpy arrays.

    Args:
        path (str | PathLike): a pickle file, e.g. a detectron2 ``model_final_*.pkl``.

    Returns:
        object: the unpickled data (dicts, lists, numbers, strings, numpy arrays).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        RestrictedPickleError: the pickle names a global outside the allow-list
            (the message names the file and the global); nothing was run.
        CheckpointError: the file is truncated or not a pickle (names the file).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=path).load()
    except RestrictedPickleError as e:
        if str(e).startswith(path):
            raise
        raise RestrictedPickleError(f'{path}: {e}') from e
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError,
            KeyError, LookupError, AttributeError, MemoryError, UnicodeError) as e:
        hint = ' (a zip archive: a torch checkpoint, not a pickle)' \
            if data[:2] == b'PK' else ''
        raise CheckpointError(f'{path}: cannot read pickle{hint} (truncated or corrupt?): '
                              f'{type(e).__name__}: {e}') from e
