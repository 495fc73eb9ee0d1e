"""Send every checkpoint mmengine loads through :func:`~.io.load_checkpoint_file`.

mmengine's ``CheckpointLoader`` (behind ``resume``, ``load_from``,
``tools/test.py``, the ``Pretrained`` init of stock backbones and
``mmengine.runner.load_checkpoint``) picks a loader by the path's scheme, and
every one of them ends in ``torch.load`` without ``weights_only`` (the URL
loader through ``torch.hub.load_state_dict_from_url``, which passes
``weights_only=False``): a file in ``$TORCH_HOME/hub/checkpoints`` named like
the URL would be unpickled with its code. :func:`register_safe_loading`
replaces the loader of every registered scheme:

* local paths: read with :func:`load_checkpoint_file`;
* ``http://``, ``https://``: the file cached by ``torch.hub``'s rules
  (``<model_dir or $TORCH_HOME/hub/checkpoints>/<URL basename>``, downloaded
  when absent; local rank 0 first), then read with :func:`load_checkpoint_file`;
* ``torchvision://``, ``modelzoo://``, ``open-mmlab://``, ``openmmlab://``,
  ``mmcls://``: mmengine's name tables resolve them to a URL or a file under
  ``$MMENGINE_HOME``, read as above;
* ``s3://``, ``petrel://`` (and ``X:s3://``): the bytes from mmengine's file
  backend, written to a temporary file and read with :func:`load_checkpoint_file`;
* ``pavi://``: downloaded by pavi's model cloud to a temporary folder, read
  the same way;
* any other scheme registered before ``g2sd_mm`` is imported: refused with an
  error naming the scheme.
"""
import os
import os.path as osp
import tempfile
from typing import Any, Callable, Dict
from urllib.parse import urlparse

import torch
from mmengine.dist import get_dist_info
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from .errors import CheckpointError
from .io import load_checkpoint_file
from .safe_globals import allow_mmengine_globals

__all__ = ['register_safe_loading', 'SAFE_LOADERS']


def _read_as(path: str, name: str, map_location, temporary: bool = False) -> Any:
    """Read ``path`` fetched for ``name`` (a URL): errors name ``name`` in place
    of a ``temporary`` file, next to a cached one."""
    try:
        return load_checkpoint_file(path, map_location=map_location)
    except CheckpointError as e:
        text = str(e).replace(path, name) if temporary else f'{e} [read from {name}]'
        raise type(e)(text) from e


def load_from_local(filename: str, map_location=None) -> Any:
    """Local paths. Named as mmengine's own, whose log line ("Loads checkpoint
    by local backend") is derived from the function name."""
    return load_checkpoint_file(osp.expanduser(filename), map_location=map_location)


def cached_url_file(url: str, model_dir=None, progress: bool = False) -> str:
    """Where ``torch.hub.load_state_dict_from_url`` keeps ``url``; downloaded
    (to a temporary name, then moved) only when absent."""
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(cached):
        torch.hub.download_url_to_file(url, cached, None, progress=progress)
    return cached


def load_from_http(filename: str, map_location=None, model_dir=None,
                   progress: bool = os.isatty(0)) -> Any:
    """``http(s)://`` URLs: the ``torch.hub`` cache file, read safely. With
    several processes, rank 0 downloads first and the others wait."""
    rank, world_size = get_dist_info()
    if rank == 0:
        path = cached_url_file(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            path = cached_url_file(filename, model_dir, progress)
    return _read_as(path, filename, map_location)


def load_from_torchvision(filename: str, map_location=None) -> Any:
    """``torchvision://NAME`` (and the deprecated ``modelzoo://NAME``)."""
    name = filename.split('://', 1)[1]
    urls = mm_checkpoint.get_torchvision_models()
    if name not in urls:
        raise CheckpointError(f'{filename}: unknown torchvision model {name!r}')
    return load_from_http(urls[name], map_location=map_location)


def load_from_openmmlab(filename: str, map_location=None) -> Any:
    """``open-mmlab://NAME`` / ``openmmlab://NAME``: mmengine's model table."""
    name = filename.split('://', 1)[1]
    name = mm_checkpoint.get_deprecated_model_names().get(name, name)
    urls = mm_checkpoint.get_external_models()
    if name not in urls:
        raise CheckpointError(f'{filename}: unknown OpenMMLab model {name!r}')
    url = urls[name]
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location=map_location)
    return load_checkpoint_file(osp.join(mm_checkpoint._get_mmengine_home(), url),
                                map_location=map_location)


def load_from_mmcls(filename: str, map_location=None) -> Any:
    """``mmcls://NAME``: mmengine's mmcls model table; keys renamed as mmengine does."""
    name = filename.split('://', 1)[1]
    urls = mm_checkpoint.get_mmcls_models()
    if name not in urls:
        raise CheckpointError(f'{filename}: unknown mmcls model {name!r}')
    return mm_checkpoint._process_mmcls_checkpoint(
        load_from_http(urls[name], map_location=map_location))


def _read_bytes(data: bytes, filename: str, map_location) -> Any:
    with tempfile.TemporaryDirectory() as tmp_dir:
        path = osp.join(tmp_dir, osp.basename(filename.rstrip('/')) or 'checkpoint')
        with open(path, 'wb') as f:
            f.write(data)
        return _read_as(path, filename, map_location, temporary=True)


def load_from_ceph(filename: str, map_location=None, backend: str = 'petrel') -> Any:
    """``s3://`` / ``petrel://``: the bytes from mmengine's file backend."""
    from mmengine.fileio import get_file_backend
    data = get_file_backend(filename, backend_args={'backend': backend}).get(filename)
    return _read_bytes(data, filename, map_location)


def load_from_pavi(filename: str, map_location=None) -> Any:
    """``pavi://``: downloaded by pavi's model cloud, then read safely."""
    try:
        from pavi import modelcloud
    except ImportError as e:
        raise ImportError(f'{filename}: install pavi to load checkpoints from its model '
                          'cloud') from e
    model = modelcloud.get(filename[len('pavi://'):])
    with tempfile.TemporaryDirectory() as tmp_dir:
        path = osp.join(tmp_dir, model.name)
        model.download(path)
        return _read_as(path, filename, map_location, temporary=True)


# mmengine 0.10.7's schemes -> the safe loader for each.
SAFE_LOADERS: Dict[str, Callable] = {
    '': load_from_local,
    'http://': load_from_http,
    'https://': load_from_http,
    'modelzoo://': load_from_torchvision,
    'torchvision://': load_from_torchvision,
    'open-mmlab://': load_from_openmmlab,
    'openmmlab://': load_from_openmmlab,
    'mmcls://': load_from_mmcls,
    r'(\S+\:)?s3://': load_from_ceph,
    r'(\S+\:)?petrel://': load_from_ceph,
    'pavi://': load_from_pavi,
}


def _refusing(prefix: str) -> Callable:
    def load_from_unsupported(filename: str, map_location=None) -> Any:
        raise CheckpointError(
            f'{filename}: checkpoints with the scheme {prefix!r} are not read: g2sd_mm has no '
            'safe (weights-only) reader for it. Download the file and give its local path.')
    return load_from_unsupported


_REGISTERED = False


def register_safe_loading() -> None:
    """Allow-list mmengine's checkpoint contents for ``weights_only`` loads and
    route every scheme of mmengine's ``CheckpointLoader`` through the safe
    reader (idempotent; called when ``g2sd_mm`` is imported)."""
    global _REGISTERED
    if _REGISTERED:
        return
    allow_mmengine_globals()
    for prefix in list(CheckpointLoader._schemes):
        loader = SAFE_LOADERS.get(prefix) or _refusing(prefix)
        CheckpointLoader.register_scheme(prefixes=prefix, loader=loader, force=True)
    for prefix, loader in SAFE_LOADERS.items():
        if prefix not in CheckpointLoader._schemes:
            CheckpointLoader.register_scheme(prefixes=prefix, loader=loader, force=True)
    _REGISTERED = True
