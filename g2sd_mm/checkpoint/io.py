"""Read checkpoint files safely, whatever their format.

:func:`load_checkpoint_file` first recognises the file (:func:`~.file_kind.sniff`)
and then reads it with a loader that cannot run code:

* torch zip and legacy torch files: ``torch.load(weights_only=True)`` with
  mmengine's logging state allow-listed (:mod:`.safe_globals`); the explicit
  argument holds even when ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set;
* safetensors files: ``safetensors.torch.load_file`` (a tensor dict);
* raw pickles (detectron2 ``.pkl`` models): the restricted unpickler of
  :mod:`.pickle_reader` (containers, scalars and numpy arrays only).

JSON documents, empty files, other formats and truncated files are refused
with a :class:`CheckpointError` that names the file and says what it is; only
a real pickle holding forbidden objects gets an :class:`UnsafeCheckpointError`
that points to ``trust_pickle=True``.
"""
import os
import pickle
from typing import Any, Optional, Union

import torch

from . import file_kind
from .errors import CheckpointError, UnsafeCheckpointError
from .safe_globals import allow_mmengine_globals

__all__ = ['load_checkpoint_file']

_UNREADABLE = 'cannot read checkpoint (truncated or not a torch checkpoint?)'
# torch's weights-only unpickler phrases for a global or call it refused (the
# rest of its errors mean damaged pickle data).
_FORBIDDEN = ('Unsupported global', 'whose module', 'Can only create new object',
              'Trying to call reduce', 'Can only build', 'refusing getattr',
              'must be imported to load')
_allow_listed = False


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


def _unsafe(path: str, reason: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f'{path}: refused to unpickle ({reason}). The file holds objects other than '
        'tensors, which could run code when loaded; if you trust its source, load it with '
        'trust_pickle=True (the converters in tools/model_converters take --trust-pickle) '
        'and save its tensors.')


def _load_torch(path: str, kind: file_kind.FileKind, map_location, trust_pickle: bool) -> Any:
    if kind.truncated:
        raise CheckpointError(f'{path}: {_UNREADABLE}: {kind.detail}')
    try:
        return torch.load(path, map_location=map_location, weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
        reason = _unpickler_reason(e)
        if not trust_pickle and any(m in reason for m in _FORBIDDEN):
            raise _unsafe(path, reason) from e
        raise CheckpointError(f'{path}: {_UNREADABLE}: damaged pickle data in '
                              f'{kind.detail} ({reason})') from e
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - damaged data raises nearly anything
        raise CheckpointError(f'{path}: {_UNREADABLE}: {kind.detail}: '
                              f'{type(e).__name__}: {e}') from e


def _device(map_location) -> str:
    if isinstance(map_location, (str, torch.device)):
        return str(map_location)
    return 'cpu'


def _load_safetensors(path: str, kind: file_kind.FileKind, map_location) -> Any:
    if kind.truncated:
        raise CheckpointError(f'{path}: {_UNREADABLE}: {kind.detail}')
    from safetensors.torch import load_file
    try:
        return load_file(path, device=_device(map_location))
    except Exception as e:  # noqa: BLE001 - SafetensorError and friends
        raise CheckpointError(f'{path}: {_UNREADABLE}: damaged safetensors file '
                              f'({type(e).__name__}: {e})') from e


def _load_pickle(path: str, trust_pickle: bool) -> Any:
    if trust_pickle:
        try:
            with open(path, 'rb') as f:
                return pickle.load(f, encoding='latin1')
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f'{path}: {_UNREADABLE}: damaged pickle data '
                                  f'({type(e).__name__}: {e})') from e
    from .pickle_reader import read_restricted_pickle
    return read_restricted_pickle(path)


def load_checkpoint_file(path: Union[str, os.PathLike], map_location: Optional[Any] = 'cpu',
                         trust_pickle: bool = False) -> Any:
    """Load a checkpoint file safely (see the module documentation).

    Args:
        path (str): checkpoint path.
        map_location: passed to ``torch.load`` (a device for safetensors).
        trust_pickle (bool): read pickled objects with ``weights_only=False``
            (plain ``pickle`` for raw pickles). Only for files from a trusted
            source: unpickling can run arbitrary code.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: a pickle holding objects other than tensors,
            containers and mmengine's logging state.
        CheckpointError: anything else that is not a readable checkpoint
            (truncated, damaged, JSON, another format), naming the file.
    """
    global _allow_listed
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    if not _allow_listed:
        allow_mmengine_globals()
        _allow_listed = True
    kind = file_kind.sniff(path)
    if kind.kind in (file_kind.TORCH_ZIP, file_kind.TORCH_LEGACY):
        return _load_torch(path, kind, map_location, trust_pickle)
    if kind.kind == file_kind.SAFETENSORS:
        return _load_safetensors(path, kind, map_location)
    if kind.kind == file_kind.PICKLE or (
            kind.kind == file_kind.UNKNOWN and path.endswith(('.pkl', '.pickle'))
            and 'not a checkpoint' not in kind.detail):
        if kind.truncated:
            raise CheckpointError(f'{path}: {_UNREADABLE}: {kind.detail}')
        return _load_pickle(path, trust_pickle)
    raise CheckpointError(f'{path}: cannot read checkpoint: it is {kind.detail}')


def add_trust_pickle_argument(parser, what: str = 'the input') -> None:
    """Add the converters' ``--trust-pickle`` flag (off by default) to ``parser``."""
    parser.add_argument(
        '--trust-pickle', action='store_true',
        help=f'read {what} with weights_only=False. Unpickling can run arbitrary code: only '
        'for files from a source you trust')
