"""Random number generator state that survives a checkpoint (exact resume, part 1).

mmengine 0.10 resumes a run by seeding python's ``random``, numpy and torch
again with the run's seed. After ``--resume`` the data augmentations, dropout
masks, RoI sampling, ... therefore differ from the ones an uninterrupted run
would have drawn, and the loss curves of the two runs part ways.

:class:`RandomStateHook` stores the generator states in every checkpoint it
writes and puts them back when training resumes from that checkpoint:

* what is saved: python ``random``, numpy's global generator
  (``np.random.get_state()``), torch's CPU generator and, once CUDA is in
  use, the CUDA generators of this process; one entry per process
  (``checkpoint['random_states']['ranks']``), all as tensors, ints and lists,
  so the checkpoint still loads with ``torch.load(weights_only=True)``;
* when: a single process takes its states while the checkpoint is written; in
  a distributed run every rank takes its states in ``after_train_iter`` /
  ``after_train_epoch`` of an iteration/epoch at whose end a
  ``CheckpointHook`` saves (the hook runs just before it, priority 85) and
  rank 0 gathers them, because only rank 0 writes checkpoints;
* when restored: only on resume (``runner.resume``/``--resume``; loading
  weights with ``load_from`` leaves the seeded generators alone), at the point
  of the program that corresponds to the point where they were taken. The
  :class:`~g2sd_mm.engine.ExactResumeIterBasedTrainLoop` and
  :class:`~g2sd_mm.engine.ExactResumeEpochBasedTrainLoop` do this themselves,
  right before the first batch after the resume point is loaded; with
  mmengine's own loops the hook restores at the end of ``before_train_epoch``,
  which is the right point for a checkpoint taken at the end of an epoch of
  ``EpochBasedTrainLoop`` (the common case) and too early for the others;
* validation does not consume the training generators: their states are
  saved in ``before_val`` and put back in ``after_val`` (``isolate_val``), so
  a run that validates right after a checkpoint and a run resumed from that
  checkpoint (which does not validate again) continue identically, and the
  training randomness does not depend on ``val_interval``.

Limits (exactness needs all of them):

* data loader workers (``num_workers > 0``) have their own generators, which
  mmengine seeds at every worker start (``seed + worker id + rank``); they are
  not saved. A resumed run restarts its workers, so augmentations done in
  workers match only when the workers of the uninterrupted run were restarted
  at the same point too: at an epoch boundary of ``EpochBasedTrainLoop`` with
  ``persistent_workers=False``. Use ``num_workers=0`` for bit-exact resume
  otherwise;
* the same number of processes as the interrupted run (otherwise the states
  are not restored and a warning says so), the same seed and config;
* deterministic kernels (CPU, or ``randomness.deterministic=True`` on GPUs);
  nondeterministic GPU kernels make even two uninterrupted runs differ;
* other generators (``torch.Generator`` objects owned by user code, other
  accelerators' generators) are not covered.
"""
import logging
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size, is_distributed
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

__all__ = ['RandomStateHook', 'get_random_state', 'set_random_state', 'restore_random_state',
           'CHECKPOINT_KEY']

CHECKPOINT_KEY = 'random_states'
_FORMAT_VERSION = 1


def get_random_state() -> dict:
    """The states of python ``random``, numpy's global generator, torch CPU and CUDA."""
    py_version, py_internal, py_gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    cuda = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return dict(
        python=dict(version=int(py_version),
                    internal=torch.tensor(py_internal, dtype=torch.int64),
                    gauss_next=py_gauss),
        numpy=dict(kind=str(kind), keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                   has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        torch=torch.get_rng_state(),
        cuda=cuda)


def set_random_state(state: dict) -> None:
    """Inverse of :func:`get_random_state` (tensors may live on any device)."""
    py = state['python']
    random.setstate((py['version'], tuple(py['internal'].cpu().tolist()), py['gauss_next']))
    npy = state['numpy']
    np.random.set_state((npy['kind'], npy['keys'].cpu().numpy().astype(np.uint32), npy['pos'],
                         npy['has_gauss'], npy['cached_gaussian']))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda')
    if cuda and torch.cuda.is_available():
        cuda = [s.cpu() for s in cuda]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            print_log(f'the checkpoint holds {len(cuda)} CUDA generator states but '
                      f'{torch.cuda.device_count()} devices are visible; the CUDA '
                      'generators are not restored', logger='current', level=logging.WARNING)


def _checkpoint_due(runner, by_epoch: bool) -> bool:
    """Whether a ``CheckpointHook`` of the runner saves at the end of this iteration/epoch
    (the conditions of ``CheckpointHook.after_train_iter``/``after_train_epoch``)."""
    for hook in runner.hooks:
        if not isinstance(hook, CheckpointHook) or bool(hook.by_epoch) != by_epoch:
            continue
        if by_epoch:
            due = hook.every_n_epochs(runner, hook.interval, hook.save_begin) or (
                hook.save_last and hook.is_last_train_epoch(runner))
        else:
            due = hook.every_n_train_iters(runner, hook.interval, hook.save_begin) or (
                hook.save_last and hook.is_last_train_iter(runner))
        if due:
            return True
    return False


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random generator states in checkpoints and restore them on resume.

    See the module documentation for what is saved, when it is restored and
    what limits exactness. Use it with ``default_hooks.checkpoint`` and, for
    exact data order after a resume, one of the ``ExactResume*TrainLoop``
    loops::

        custom_hooks = [dict(type='RandomStateHook')]

    Args:
        isolate_val (bool): put the generator states back after validation, so
            validation does not change the training randomness. Default True.
    """

    priority = 85  # after the LOW hooks, before CheckpointHook (VERY_LOW = 90)

    def __init__(self, isolate_val: bool = True):
        self.isolate_val = isolate_val
        self._gathered: Optional[List[dict]] = None  # all ranks, for the checkpoint being saved
        self._val_state: Optional[dict] = None
        self._val_gathered: Optional[List[dict]] = None
        self._pending: Optional[dict] = None  # this rank's state to restore after a resume

    # ----------------------------------------------------------------- saving
    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._gathered = None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if is_distributed() and _checkpoint_due(runner, by_epoch=False):
            self._gathered = all_gather_object(get_random_state())

    def after_train_epoch(self, runner) -> None:
        if is_distributed() and _checkpoint_due(runner, by_epoch=True):
            self._gathered = all_gather_object(get_random_state())

    def before_val(self, runner) -> None:
        if not self.isolate_val:
            return
        self._val_state = get_random_state()
        if is_distributed():
            self._val_gathered = all_gather_object(self._val_state)

    def after_val(self, runner) -> None:
        if self._val_state is not None:
            set_random_state(self._val_state)
        self._val_state = self._val_gathered = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """(Rank 0 only.) Add ``checkpoint['random_states']``."""
        if self._val_state is not None:  # e.g. a best checkpoint saved during validation
            ranks = self._val_gathered or [self._val_state]
        elif self._gathered is not None:
            ranks = self._gathered
        else:
            ranks = [get_random_state()]
        world_size = get_world_size()
        if len(ranks) != world_size:
            print_log(f'random generator states of {len(ranks)} of {world_size} processes are '
                      'saved (the checkpoint was written outside a CheckpointHook step); a '
                      'resume from it restores none', logger='current', level=logging.WARNING)
        checkpoint[CHECKPOINT_KEY] = dict(version=_FORMAT_VERSION, world_size=world_size,
                                          ranks=ranks)
        self._gathered = None

    # -------------------------------------------------------------- restoring
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # weights loaded with ``load_from``: a new run, keep its seeded generators
        states = checkpoint.get(CHECKPOINT_KEY)
        if states is None:
            print_log('the checkpoint holds no random generator states (written without '
                      'RandomStateHook): training resumes with freshly seeded generators, '
                      'not exactly where it stopped', logger='current', level=logging.WARNING)
            return
        world_size = get_world_size()
        if len(states['ranks']) != world_size:
            print_log(f'the checkpoint was written by {len(states["ranks"])} process(es), this '
                      f'run has {world_size}: random generator states are not restored',
                      logger='current', level=logging.WARNING)
            return
        self._pending = states['ranks'][get_rank()]

    def restore(self, runner) -> bool:
        """Put the states read from the resumed checkpoint into the generators (once)."""
        if self._pending is None:
            return False
        set_random_state(self._pending)
        self._pending = None
        print_log('random generator states restored from the checkpoint', logger='current')
        return True

    def before_train_epoch(self, runner) -> None:
        # The ExactResume* loops restore at the exact point themselves.
        if not getattr(runner.train_loop, 'restores_random_state', False):
            self.restore(runner)


def restore_random_state(runner) -> bool:
    """Let the runner's :class:`RandomStateHook` (if any) restore the resumed states now."""
    for hook in runner.hooks:
        if isinstance(hook, RandomStateHook):
            return hook.restore(runner)
    return False
