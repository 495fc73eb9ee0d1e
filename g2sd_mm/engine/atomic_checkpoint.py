"""Checkpoints that are either complete or absent, never truncated.

mmengine 0.10 writes a checkpoint with ``open(path, 'wb').write(...)`` and the
``last_checkpoint`` pointer with ``open(path, 'w')``: a process killed (OOM
killer, preemption, SIGKILL) in the middle leaves a truncated file under the
final name, and ``--resume`` then fails on it. ``CheckpointHook`` also
deletes the oldest checkpoint (``max_keep_ckpts``) *before* writing the new
one, so with ``max_keep_ckpts=1`` a kill during the write leaves no usable
checkpoint at all while ``last_checkpoint`` still names the deleted file.

This module provides

* the writer, :func:`g2sd_mm.checkpoint.atomic_write`: write to a hidden temporary file in the target's
  directory, ``fsync`` it, ``os.replace`` it onto the target (atomic on POSIX
  and Windows within one file system), then ``fsync`` the directory. Readers
  see the old file or the new one; a killed writer leaves the old file and a
  stray ``.<name>.<random>.tmp`` next to it (never read by mmengine or
  g2sd_mm; :class:`AtomicCheckpointHook` deletes it when training starts
  again);
* :class:`AtomicLocalBackend`, mmengine's ``LocalBackend`` whose ``put`` and
  ``put_text`` use :func:`atomic_write`, registered with ``mmengine.fileio``
  as ``'atomic_local'`` (``backend_args=dict(backend='atomic_local')``);
* :class:`AtomicCheckpointHook`, mmengine's ``CheckpointHook`` that writes
  through ``AtomicLocalBackend`` (unless other ``backend_args`` or a remote
  ``out_dir`` are given), writes ``last_checkpoint`` atomically *after* the
  checkpoint, and deletes outdated checkpoints only after both. A kill at any
  point leaves the previous checkpoint and a pointer to it (or the new
  checkpoint and a pointer to the previous or the new one), so automatic
  ``--resume`` always finds a complete checkpoint. During the write there is
  one checkpoint more on disk than ``max_keep_ckpts``.

Best checkpoints (``save_best``) are written atomically too, and the previous
best checkpoint is deleted only after the new one is in place (mmengine
deletes it first, so a kill in between left no best checkpoint).

At the start of training the hook deletes the stale temporary files
(``.<name>.<8 characters>.tmp``, the names :func:`atomic_write` uses) that a
killed run left in its checkpoint folder and work dir, and logs their names.
Two runs writing into one work dir at the same time are not supported (one
would delete the other's temporary file mid-write).
"""
import contextlib
import os
import os.path as osp
import re
from pathlib import Path
from typing import List, Optional, Union

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from ..checkpoint.atomic import atomic_write

__all__ = ['AtomicLocalBackend', 'AtomicCheckpointHook', 'ATOMIC_BACKEND', 'stale_temporaries']

ATOMIC_BACKEND = 'atomic_local'
# ``tempfile.mkstemp(prefix=f'.{name}.', suffix='.tmp')`` (what :func:`atomic_write`
# uses): 8 characters of ``tempfile._RandomNameSequence`` between prefix and suffix
_TEMPORARY = re.compile(r'^\..+\.[a-z0-9_]{8}\.tmp$')


def stale_temporaries(directory: str) -> List[str]:
    """Paths of the temporary files :func:`atomic_write` leaves in ``directory``
    when it is killed mid-write (sorted)."""
    if not osp.isdir(directory):
        return []
    return sorted(osp.join(directory, name) for name in os.listdir(directory)
                  if _TEMPORARY.match(name) and osp.isfile(osp.join(directory, name)))


class _DeferredRemoval:
    """A file backend whose ``remove``/``rmtree`` only record the path."""

    def __init__(self, backend):
        self._backend = backend
        self.removed: List[str] = []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def remove(self, path) -> None:
        self.removed.append(path)

    def rmtree(self, path) -> None:
        self.removed.append(path)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put``/``put_text``."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj, encoding=encoding)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose checkpoints and ``last_checkpoint`` survive a kill.

    Arguments as mmengine's ``CheckpointHook``; without ``backend_args`` (and
    ``file_client_args``) a local ``out_dir`` is written through
    :class:`AtomicLocalBackend`. In a config::

        default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
    """

    def __init__(self, *args, out_dir: Optional[Union[str, Path]] = None,
                 file_client_args: Optional[dict] = None, backend_args: Optional[dict] = None,
                 **kwargs):
        if backend_args is None and file_client_args is None and (
                out_dir is None or '://' not in str(out_dir)):
            backend_args = dict(backend=ATOMIC_BACKEND)
        super().__init__(*args, out_dir=out_dir, file_client_args=file_client_args,
                         backend_args=backend_args, **kwargs)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not is_main_process():
            return
        folders = {runner.work_dir}
        if '://' not in str(self.out_dir):
            folders.add(str(self.out_dir))
        stale = [p for folder in sorted(folders) for p in stale_temporaries(folder)]
        for path in stale:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if stale:
            runner.logger.warning(f'Removed {len(stale)} stale temporary file(s) of checkpoint '
                                  f'writes interrupted in an earlier run: {", ".join(stale)}')

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's best-checkpoint logic, except that a previous best checkpoint
        is deleted only after the new one (and the regular checkpoint mmengine
        writes again with the new best score) has been written."""
        if not self.save_best:
            return
        backend = self.file_backend
        deferred = _DeferredRemoval(backend)
        self.file_backend = deferred
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        keep = {getattr(self, 'best_ckpt_path', None),
                *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in deferred.removed:
            if path not in keep:
                self._remove_path(path)

    def _remove_path(self, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # checkpoints saved by deepspeed are directories
            self.file_backend.rmtree(path)

    def _remove_checkpoint(self, step: int) -> None:
        self._remove_path(self.file_backend.join_path(self.out_dir,
                                                      self.filename_tmpl.format(step)))

    def _save_checkpoint_with_step(self, runner, step, meta):
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if not is_main_process():
            return
        atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), str(self.last_ckpt))
        if outdated is not None and outdated != step:
            self._remove_checkpoint(outdated)
