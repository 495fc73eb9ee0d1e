"""Stop evaluation on non-finite model outputs instead of reporting a metric.

Training stops on a non-finite loss (``BaseDistiller.parse_losses``), but
evaluation has no loss: a model that predicts NaN (e.g. inputs divided by a
zero ``data_preprocessor.std``) still gets a number from the metrics
(``accuracy/top1: 0.0``). :class:`FiniteOutputsHook` checks the floating-point
tensors of every prediction after each validation and test iteration
(classification scores, detection boxes and scores, segmentation logits, and
any other tensor field of the data samples) and raises a
``FloatingPointError`` naming the loop, the batch, the sample (its index in
the batch, ``sample_idx`` and image path when known) and the field.
``tools/train.py`` and ``tools/test.py`` add it to every config.

Limits: it sees what the model returns. A model whose NaN scores are dropped
before they are returned (a detector's score threshold compares NaN as
false, so such boxes disappear) yields empty predictions, not NaN ones.
"""
from typing import Any, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.structures import BaseDataElement

__all__ = ['FiniteOutputsHook', 'non_finite_fields']


def _fields(obj: Any, path: str) -> Iterator[Tuple[str, Any]]:
    """``(dotted name, array)`` of every tensor / array inside ``obj``."""
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        yield path, obj
    elif isinstance(obj, BaseDataElement):
        for key, value in obj.items():
            yield from _fields(value, f'{path}.{key}' if path else key)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _fields(value, f'{path}.{key}' if path else str(key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _fields(value, f'{path}[{i}]')


def _count_non_finite(array) -> int:
    if isinstance(array, torch.Tensor):
        if not (array.is_floating_point() or array.is_complex()):
            return 0
        return int((~torch.isfinite(array)).sum())
    if np.issubdtype(array.dtype, np.inexact):
        return int((~np.isfinite(array)).sum())
    return 0


def non_finite_fields(sample: Any) -> Sequence[Tuple[str, int]]:
    """``[(field, number of NaN/Inf values)]`` of one prediction (empty: all finite)."""
    found = []
    for name, array in _fields(sample, ''):
        bad = _count_non_finite(array)
        if bad:
            found.append((name, bad))
    return found


def _describe(sample: Any, index: int) -> str:
    meta = sample.metainfo if isinstance(sample, BaseDataElement) else (
        sample if isinstance(sample, dict) else {})
    parts = [f'sample {index} of the batch']
    if meta.get('sample_idx') is not None:
        parts.append(f'dataset index {meta["sample_idx"]}')
    path = meta.get('img_path')
    return ', '.join(parts) + (f' ({path})' if path else '')


@HOOKS.register_module()
class FiniteOutputsHook(Hook):
    """Raise ``FloatingPointError`` on non-finite predictions (see the module docs)."""

    priority = 'HIGHEST'

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        self._check('validation', batch_idx, outputs)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        self._check('test', batch_idx, outputs)

    @staticmethod
    def _check(mode: str, batch_idx: int, outputs: Optional[Sequence]) -> None:
        for index, sample in enumerate(outputs or []):
            found = non_finite_fields(sample)
            if found:
                fields = ', '.join(f'{name} ({n} value(s))' for name, n in found)
                raise FloatingPointError(
                    f'non-finite model output in {mode} batch {batch_idx}, '
                    f'{_describe(sample, index)}: NaN/Inf in {fields}. No metric is computed '
                    'from it: check the data preprocessor (a zero std divides by zero), the '
                    'checkpoint and the input images.')
