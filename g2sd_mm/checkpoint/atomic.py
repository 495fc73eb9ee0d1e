"""Write files that are either complete or absent, never truncated.

:func:`atomic_write` (bytes or text) and :func:`atomic_save` (``torch.save`` of
an object) write to a hidden temporary file in the target's directory,
``fsync`` it, ``os.replace`` it onto the target (atomic on POSIX and Windows
within one file system) and then ``fsync`` the directory. Readers see the old
file or the new one. A failed write (disk full, an exception while
serialising) removes the temporary file and leaves the old file untouched; a
killed writer leaves the old file and a stray ``.<name>.<random>.tmp`` next to
it, which nothing reads.

Used by the checkpoint hook (``g2sd_mm.engine.atomic_checkpoint``) and by the
converters in ``tools/model_converters``.
"""
import contextlib
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Union

import torch

__all__ = ['atomic_write', 'atomic_save']

_CHUNK = 16 << 20


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_file_mode()  # what ``open(path, 'w')`` would create


def _write_all(f: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        f.write(view[start:start + _CHUNK])


def _fsync_dir(directory: str) -> None:
    if os.name != 'posix':
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse to sync directories
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _replacing(path: Union[str, Path]) -> Iterator[BinaryIO]:
    """Yield a temporary file that replaces ``path`` once the block succeeds."""
    path = os.fspath(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=directory)
    os.close(fd)
    try:
        with open(tmp, 'wb') as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_write(path: Union[str, Path], data: Union[bytes, str], encoding: str = 'utf-8') -> None:
    """Replace ``path`` by ``data`` atomically (see the module documentation)."""
    if isinstance(data, str):
        data = data.encode(encoding)
    with _replacing(path) as f:
        _write_all(f, data)


def atomic_save(obj: Any, path: Union[str, Path]) -> None:
    """``torch.save(obj, path)``, atomically (see the module documentation)."""
    with _replacing(path) as f:
        torch.save(obj, f)
