"""Resume from a checkpoint without running anything stored in it.

:func:`~g2sd_mm.checkpoint.load_checkpoint_file` unpickles only
tensors, containers and mmengine's logging state, but strings are data a
checkpoint may carry freely, and mmengine 0.10's ``Runner.resume`` executes
one of them: when ``meta`` holds a ``'config'`` entry (an older mmcv layout;
mmengine itself writes ``meta['cfg']``), it re-parses that text with
``Config.fromstring(text, file_format='.py')``, which runs it as a Python
file, only to read ``gpu_ids`` from it. A checkpoint whose
``meta['config']`` is ``"__import__('os').system(...)"`` passes the safe
loader and runs the command on ``tools/train.py --resume``.

:func:`install_safe_resume` (called when ``g2sd_mm`` is imported) wraps
``Runner.resume`` so that the checkpoint it reads goes through
:func:`check_resume_checkpoint` first, which

* removes ``meta['config']`` (never parsed; a warning names the file). The
  GPU-count comparison mmengine derives from it is skipped: mmengine's own
  checkpoints do not carry that entry, so resuming them is unchanged;
* checks the entries ``Runner.resume`` reads before the state dicts: ``meta``
  is a dict with non-negative integer ``epoch`` and ``iter`` and an integer
  (or absent) ``seed``; otherwise a :class:`CheckpointError` names the file
  and the entry.

``meta['cfg']`` (the config text mmengine writes) is left in place:
``resume`` never reads it. mmengine's inferencers (``mmengine.infer``)
execute it when they are built from a checkpoint without a config; g2sd_mm
does not build them that way.

Limits: ``FlexibleRunner`` (resume through its strategy) is not wrapped.
"""
import functools
import logging
import numbers
from typing import Any

from mmengine.logging import print_log
from mmengine.runner import Runner

from ..checkpoint import CheckpointError

__all__ = ['check_resume_checkpoint', 'install_safe_resume']

_EXECUTED_META_KEYS = ('config', )


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_resume_checkpoint(checkpoint: Any, filename: str) -> Any:
    """``checkpoint`` (as ``Runner.resume`` loaded it) without the meta entries
    mmengine would execute, after checking the entries it reads.

    Raises:
        CheckpointError: ``meta``, ``meta['epoch']``, ``meta['iter']`` or
            ``meta['seed']`` is missing or of the wrong type; the message names
            ``filename`` and the entry.
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{filename}: cannot resume from it, expected a dict with '
                              f'"meta" and "state_dict", got {type(checkpoint).__name__}')
    meta = checkpoint.get('meta')
    if not isinstance(meta, dict):
        raise CheckpointError(f'{filename}: cannot resume from it, "meta" must be a dict, '
                              f'got {type(meta).__name__} (not a training checkpoint?)')
    for key in ('epoch', 'iter'):
        if not _is_int(meta.get(key)) or meta[key] < 0:
            raise CheckpointError(f"{filename}: cannot resume from it, meta['{key}'] must be "
                                  f'a non-negative integer, got {meta.get(key)!r}')
    if meta.get('seed') is not None and not _is_int(meta['seed']):
        raise CheckpointError(f"{filename}: cannot resume from it, meta['seed'] must be an "
                              f"integer, got {type(meta['seed']).__name__}")
    for key in _EXECUTED_META_KEYS:
        if key in meta:
            meta = {k: v for k, v in meta.items() if k != key}
            print_log(f"{filename}: ignored meta['{key}'] (mmengine would run this text as "
                      'Python code to compare GPU counts; it was not parsed)',
                      logger='current', level=logging.WARNING)
    return dict(checkpoint, meta=meta)


def _safe_resume(resume):

    @functools.wraps(resume)
    def wrapper(self, filename, *args, **kwargs):
        own = self.__dict__.get('load_checkpoint')
        load = self.load_checkpoint

        def load_for_resume(name, *load_args, **load_kwargs):
            return check_resume_checkpoint(load(name, *load_args, **load_kwargs), name)

        self.load_checkpoint = load_for_resume
        try:
            return resume(self, filename, *args, **kwargs)
        finally:
            if own is None:
                del self.load_checkpoint
            else:
                self.load_checkpoint = own

    wrapper.checks_resume_checkpoint = True
    return wrapper


def install_safe_resume() -> None:
    """Wrap ``mmengine.runner.Runner.resume`` (see the module docs; idempotent)."""
    if not getattr(Runner.resume, 'checks_resume_checkpoint', False):
        Runner.resume = _safe_resume(Runner.resume)
