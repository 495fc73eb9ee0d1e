"""Convert detectron2 ViTDet Mask R-CNN weights to our mmdet detector, strictly.

Reads a detectron2 file (model-zoo ``.pkl`` through the restricted unpickler,
or a ``DetectionCheckpointer`` ``.pth`` with ``weights_only``), renames it with
:func:`g2sd_mm.checkpoint.layouts.detectron2.d2_vitdet_to_mmdet` and checks the
result against the target model's ``state_dict()``: every source tensor must
be used and every target tensor filled with the right shape, otherwise a
:class:`CheckpointError` names the file and the leftovers.
"""
import os
import zipfile
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import torch

from .errors import CheckpointError
from .io import load_checkpoint_file
from .loading import state_dict_problems
from .layouts.detectron2 import d2_vit_arch, d2_vitdet_to_mmdet, split_d2_state
from .pickle_reader import read_restricted_pickle

__all__ = ['VIT_ARCHS', 'read_d2_checkpoint', 'check_vit_arch', 'convert_d2_vitdet']

#: ``--arch`` letters: (embed_dim, depth, num_heads)
VIT_ARCHS = {
    't': (192, 12, 3),
    's': (384, 12, 6),
    'b': (768, 12, 12),
    'l': (1024, 24, 16),
    'h': (1280, 32, 16),
}


def _to_tensor(value, key: str, source: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.kind not in 'biuf':
            raise CheckpointError(f'{source}: {key} is a numpy array of dtype {value.dtype}, '
                                  'not numbers')
        return torch.from_numpy(np.array(value, copy=True))
    raise CheckpointError(f'{source}: {key} is a {type(value).__name__}, not an array')


def read_d2_checkpoint(path: str, trust_pickle: bool = False) -> Dict[str, object]:
    """The ``{'model': ..., other top-level entries}`` of a detectron2 weights file.

    ``.pkl`` (model zoo) files go through :func:`read_restricted_pickle`; zip
    (``torch.save``) files through ``load_checkpoint_file`` (``weights_only``
    unless ``trust_pickle``).

    Returns:
        dict: ``model`` (name -> torch tensor) plus the file's other
        top-level entries that are plain strings/numbers (e.g. ``__author__``).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    if zipfile.is_zipfile(path):
        ckpt = load_checkpoint_file(path, trust_pickle=trust_pickle)
    else:
        ckpt = read_restricted_pickle(path)
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(f'{path}: expected a dict, got {type(ckpt).__name__}')
    model = ckpt.get('model', ckpt.get('state_dict'))
    if not isinstance(model, Mapping) or not model:
        raise CheckpointError(f'{path}: no "model" weights dict (top-level keys: '
                              f'{sorted(map(str, ckpt))[:10]})')
    out = {k: v for k, v in ckpt.items()
           if isinstance(k, str) and isinstance(v, (str, int, float, bool))}
    out['model'] = {str(k): _to_tensor(v, k, path) for k, v in model.items()}
    return out


def check_vit_arch(weights: Mapping[str, torch.Tensor], arch: Optional[str],
                   source: str) -> Dict[str, int]:
    """The ViT size of d2 ``weights``; raises if ``arch`` names another size."""
    try:
        found = d2_vit_arch(weights)
    except KeyError as e:
        raise CheckpointError(f'{source}: {e.args[0]}') from e
    if arch is not None:
        if arch not in VIT_ARCHS:
            raise ValueError(f'unknown arch {arch!r}; choose from {sorted(VIT_ARCHS)}')
        want = dict(zip(('embed_dim', 'depth', 'num_heads'), VIT_ARCHS[arch]))
        if found != want:
            raise CheckpointError(
                f'{source}: the file holds a ViT with {found} but --arch {arch} is {want}: '
                'wrong architecture')
    return found


def _check_pixel_stats(meta: Mapping[str, torch.Tensor], mean: Optional[Sequence[float]],
                       std: Optional[Sequence[float]], source: str) -> None:
    for name, want in (('pixel_mean', mean), ('pixel_std', std)):
        if name not in meta or want is None:
            continue
        got = meta[name].flatten().double()
        if got.numel() != len(want) or not torch.allclose(
                got, torch.tensor(want, dtype=torch.float64), atol=1e-3):
            raise CheckpointError(
                f'{source}: {name} {got.tolist()} differs from the target config '
                f'({list(want)}, input channel order): the model was trained on '
                'differently normalised inputs (RGB vs BGR?)')


def convert_d2_vitdet(path: str, target: Mapping[str, torch.Tensor],
                      arch: Optional[str] = None, prefix: str = '',
                      keep_adapters: bool = False, pixel_mean: Optional[Sequence[float]] = None,
                      pixel_std: Optional[Sequence[float]] = None,
                      trust_pickle: bool = False) -> Dict[str, object]:
    """Read ``path`` and return its weights in the layout of ``target``.

    Args:
        path (str): detectron2 ``.pkl`` / ``.pth``.
        target (Mapping): the target model's ``state_dict()`` (meta tensors
            are fine: only names and shapes are read).
        arch (str, optional): a key of :data:`VIT_ARCHS`; a file of another
            ViT size is refused.
        prefix (str): prefix of the detector keys in ``target`` (``'student.'``
            for a ``DetectionDistiller``).
        keep_adapters (bool): map ``stu_adapter.conv.N`` to ``adapters.N``
            (otherwise they are dropped and listed in ``dropped``).
        pixel_mean, pixel_std (sequence, optional): the target's input
            normalisation in its input channel order; checked against the
            file's ``pixel_mean``/``pixel_std`` when it has them.
        trust_pickle (bool): see :func:`read_d2_checkpoint`.

    Returns:
        dict: ``state`` (target key -> tensor), ``dropped`` (source keys not
        used, only ``stu_adapter.*`` when ``keep_adapters`` is off), ``arch``
        (the file's ViT size), ``info`` (the file's plain top-level entries).

    Raises:
        CheckpointError: wrong architecture, source keys without a target,
            target keys without a source, or shape mismatches (all named).
    """
    ckpt = read_d2_checkpoint(path, trust_pickle=trust_pickle)
    weights, meta = split_d2_state(ckpt.pop('model'))
    found = check_vit_arch(weights, arch, path)
    _check_pixel_stats(meta, pixel_mean, pixel_std, path)
    mapped = d2_vitdet_to_mmdet(weights, prefix=prefix, keep_adapters=keep_adapters)
    dropped = mapped['adapters'] if not keep_adapters else []
    leftovers = [k for k in mapped['unmapped'] if k not in dropped]
    problems = []
    if leftovers:
        problems.append(f'{len(leftovers)} source key(s) with no target: '
                        + ', '.join(leftovers[:12]) + (' ...' if len(leftovers) > 12 else ''))
    problems += state_dict_problems(target, mapped['state'], limit=12)
    if problems:
        raise CheckpointError(f'{path} does not convert to the target model: '
                              + '; '.join(problems))
    state = {k: v.to(target[k].dtype) if v.dtype != target[k].dtype else v
             for k, v in mapped['state'].items()}
    return dict(state=state, dropped=dropped, arch=found, info=ckpt)
