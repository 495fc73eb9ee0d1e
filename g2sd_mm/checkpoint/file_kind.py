"""Recognise what a file given as a checkpoint is, from its first and last bytes.

:func:`sniff` never unpickles anything: it reads at most a few kilobytes and
returns one of the kinds below, so the reader can pick the right loader and an
error can say what the file is instead of calling every non-torch file an
unsafe pickle.
"""
import json
import os
import struct
from typing import NamedTuple

__all__ = ['FileKind', 'sniff', 'TORCH_ZIP', 'TORCH_LEGACY', 'PICKLE', 'SAFETENSORS', 'JSON',
           'EMPTY', 'UNKNOWN']

TORCH_ZIP = 'torch zip'
TORCH_LEGACY = 'legacy torch'
PICKLE = 'pickle'
SAFETENSORS = 'safetensors'
JSON = 'JSON'
EMPTY = 'empty'
UNKNOWN = 'unknown'

_ZIP_HEAD = b'PK\x03\x04'
_ZIP_END = b'PK\x05\x06'  # end-of-central-directory record, within the last 64 KiB + 22 bytes
_ZIP_TAIL = (1 << 16) + 22
# ``torch.save(..., _use_new_zipfile_serialization=False)`` starts with the pickled
# magic number 0x1950a86a20f9469cfc6c (protocol 2, LONG1).
_LEGACY_HEAD = b'\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.'
# Other well-known formats, named in the error when given as a checkpoint.
_OTHER_FORMATS = [
    (b'\x1f\x8b', 'gzip archive'),
    (b'\x89HDF\r\n\x1a\n', 'HDF5 file (Keras / h5py)'),
    (b'\x93NUMPY', 'numpy .npy array'),
    (b'\x89PNG', 'PNG image'),
    (b'\xff\xd8\xff', 'JPEG image'),
    (b'\x7fELF', 'ELF executable'),
]
_SAFETENSORS_MAX_HEADER = 100 << 20


class FileKind(NamedTuple):
    """What a file is: ``kind`` (one of the module constants), whether it is
    cut short (``truncated``) and a short human ``detail``."""
    kind: str
    truncated: bool = False
    detail: str = ''


def _looks_like_json(head: bytes) -> bool:
    text = head.lstrip()
    return text[:1] in (b'{', b'[')


def sniff(path: str) -> FileKind:
    """Tell what the file at ``path`` is without deserialising it."""
    size = os.path.getsize(path)
    if size == 0:
        return FileKind(EMPTY, detail='an empty file (0 bytes)')
    with open(path, 'rb') as f:
        head = f.read(4096)
        f.seek(max(0, size - _ZIP_TAIL))
        tail = f.read()
    if head.startswith(_ZIP_HEAD):
        whole = _ZIP_END in tail
        return FileKind(TORCH_ZIP, truncated=not whole,
                        detail='a zip archive (torch.save format)' + (
                            '' if whole else ' without its central directory: truncated'))
    if head.startswith(_LEGACY_HEAD):
        return FileKind(TORCH_LEGACY, detail='a legacy (pre-1.6) torch.save file')
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        truncated = not tail.endswith(b'.')  # every pickle ends with STOP
        return FileKind(PICKLE, truncated=truncated,
                        detail=f'a raw pickle (protocol {head[1]})' + (
                            ', cut short (no STOP opcode at the end)' if truncated else ''))
    if size >= 10:
        (header_len,) = struct.unpack('<Q', head[:8])
        if head[8:9] == b'{' and 2 <= header_len <= _SAFETENSORS_MAX_HEADER:
            truncated = 8 + header_len > size
            return FileKind(SAFETENSORS, truncated=truncated,
                            detail='a safetensors file' + (
                                f' whose {header_len}-byte header runs past the end of the '
                                f'{size}-byte file: truncated' if truncated else ''))
    for magic, name in _OTHER_FORMATS:
        if head.startswith(magic):
            return FileKind(UNKNOWN, detail=f'a {name}, not a checkpoint')
    if _looks_like_json(head):
        try:
            with open(path, 'rb') as f:
                json.loads(f.read(64 << 20))
            return FileKind(JSON, detail='a JSON document, not a checkpoint')
        except (ValueError, UnicodeDecodeError):
            return FileKind(JSON, detail='text starting like JSON (not valid JSON), '
                            'not a checkpoint')
    return FileKind(UNKNOWN, detail='not a recognised checkpoint format (torch zip, legacy '
                    f'torch, pickle, safetensors); it starts with bytes {head[:8].hex(" ")}')
