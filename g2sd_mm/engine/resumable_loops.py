"""Training loops that resume exactly where the checkpoint was taken (exact resume, part 2).

mmengine 0.10's loops lose the data position on resume:

* ``IterBasedTrainLoop`` skips the consumed batches by *loading* them
  (``next(dataloader_iterator)`` ``iter`` times): every skipped sample runs
  the whole pipeline, which costs time and draws random augmentations, so the
  generators are in a different state afterwards;
* ``EpochBasedTrainLoop`` always starts a resumed epoch from its first batch,
  so a checkpoint taken in the middle of an epoch repeats the batches before
  it.

:class:`ExactResumeIterBasedTrainLoop` and :class:`ExactResumeEpochBasedTrainLoop`
behave like mmengine's loops, except that on resume they skip the consumed
batches at the sampler level: they advance the batch sampler (indices only,
no image is read, no pipeline runs) by exactly the number of batches consumed
before the checkpoint (across epoch restarts of a finite sampler, with the
same ``set_epoch`` calls), then load the next batch from that position. The
sampler position is not stored in the checkpoint; it is recomputed from the
iteration/epoch counters, which works because mmengine's samplers are
deterministic functions of (seed, epoch). Right before that first batch they
let :class:`~g2sd_mm.engine.RandomStateHook` restore the generator states
(right before creating the epoch's data iterator when the checkpoint was
taken at the end of an epoch, because an uninterrupted run creates it there).

Together with ``RandomStateHook`` and the optimizer, scheduler, loss-scaler
and message-hub state mmengine already saves, a resumed run with
``num_workers=0`` computes the same losses as an uninterrupted one (see
``g2sd_mm.engine.random_state`` for the limits). With worker processes the
data order is still exact, the augmentations done in the workers only at the
end of an epoch of the epoch-based loop (non-persistent workers). Without a
resume both loops draw the same batches, and the same random numbers, as
mmengine's loops.

To skip at the sampler level, the loops wrap the configured batch sampler (or
the ``BatchSampler`` PyTorch would build) in :class:`ResumableBatchSampler`.
The wrapper forwards ``sampler``, ``batch_size`` and ``len``; the data
loader's own ``batch_size`` attribute becomes ``None`` as with any batch
sampler. A data loader passed as a built object is used as it is and resumed
the mmengine way (loading the skipped batches), with a warning.
"""
import copy
import logging
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.registry import DATA_SAMPLERS, LOOPS
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from mmengine.runner.base_loop import BaseLoop
from mmengine.runner.utils import calc_dynamic_intervals
from torch.utils.data import BatchSampler, DataLoader, Sampler

from .random_state import restore_random_state

__all__ = ['ExactResumeIterBasedTrainLoop', 'ExactResumeEpochBasedTrainLoop',
           'ResumableBatchSampler']


class ResumableBatchSampler(Sampler):
    """A batch sampler that can continue from a position reached beforehand.

    Iterating it iterates the wrapped batch sampler; after :meth:`continue_from`,
    the next iteration that is actually advanced continues the given, already
    advanced iterator of the wrapped sampler instead of starting a fresh one.
    The wrapped sampler is built as the runner would build it: from
    ``batch_sampler`` (a config) or, without one, as
    ``BatchSampler(sampler, batch_size, drop_last)``.
    """

    def __init__(self, sampler: Sampler, batch_size: int,
                 batch_sampler: Optional[Union[dict, Sampler]] = None, drop_last: bool = False):
        if batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif isinstance(batch_sampler, dict):
            batch_sampler = DATA_SAMPLERS.build(
                batch_sampler, default_args=dict(sampler=sampler, batch_size=batch_size))
        self.batch_sampler = batch_sampler
        self._next_iterator: Optional[Iterator] = None

    @property
    def sampler(self):
        return self.batch_sampler.sampler

    @property
    def batch_size(self):
        return getattr(self.batch_sampler, 'batch_size', None)

    @property
    def drop_last(self):
        return getattr(self.batch_sampler, 'drop_last', False)

    def continue_from(self, iterator: Iterator) -> None:
        """Continue with ``iterator`` (an advanced ``iter(batch_sampler)``) instead of a
        fresh iteration, in the next iteration over this sampler that is advanced."""
        self._next_iterator = iterator

    def __iter__(self) -> Iterator[List[int]]:
        # A generator: its body runs at the first ``next``. A DataLoader iterator with
        # workers calls ``iter`` twice and drops the first result, which must not take
        # the position (nor start InfiniteSampler's shared index stream).
        iterator, self._next_iterator = self._next_iterator, None
        if iterator is None:
            iterator = iter(self.batch_sampler)
        yield from iterator

    def __len__(self) -> int:
        return len(self.batch_sampler)


def _resumable_dataloader_cfg(dataloader):
    """The dataloader config with its batch sampler wrapped in :class:`ResumableBatchSampler`."""
    if not isinstance(dataloader, dict):
        return dataloader
    cfg = copy.deepcopy(dict(dataloader))
    inner = cfg.pop('batch_sampler', None)
    wrapper = dict(type=ResumableBatchSampler, batch_sampler=inner)
    if inner is None:
        # mmengine passes ``drop_last`` to the DataLoader, which gives it to its BatchSampler
        wrapper['drop_last'] = cfg.pop('drop_last', False)
    cfg['batch_sampler'] = wrapper
    return cfg


def _set_sampler_epoch(dataloader: DataLoader, epoch: int) -> None:
    """``set_epoch`` as mmengine's ``_InfiniteDataloaderIterator`` calls it."""
    if hasattr(dataloader, 'sampler') and hasattr(dataloader.sampler, 'set_epoch'):
        dataloader.sampler.set_epoch(epoch)
    elif hasattr(dataloader, 'batch_sampler') and hasattr(dataloader.batch_sampler.sampler,
                                                          'set_epoch'):
        dataloader.batch_sampler.sampler.set_epoch(epoch)


def _resumable(dataloader: DataLoader) -> Optional[ResumableBatchSampler]:
    sampler = getattr(dataloader, 'batch_sampler', None)
    return sampler if isinstance(sampler, ResumableBatchSampler) else None


class _InfiniteIterator:
    """mmengine's ``_InfiniteDataloaderIterator``: restarts the data loader when
    it is exhausted (with ``set_epoch(epoch + 1)``), optionally from a resumed
    position (``epoch`` and an iterator over the rest of that epoch)."""

    def __init__(self, dataloader: DataLoader, epoch: int = 0):
        self._dataloader = dataloader
        self._epoch = epoch
        self._iterator = iter(dataloader)

    def __iter__(self):
        return self

    def __next__(self) -> Sequence[dict]:
        try:
            return next(self._iterator)
        except StopIteration:
            print_log('Reach the end of the dataloader, it will be restarted and continue to '
                      'iterate. It is recommended to use `mmengine.dataset.InfiniteSampler` to '
                      'enable the dataloader to iterate infinitely.', logger='current',
                      level=logging.WARNING)
            self._epoch += 1
            _set_sampler_epoch(self._dataloader, self._epoch)
            if self._dataloader.num_workers > 0:
                time.sleep(2)  # as mmengine: avoid a deadlock while workers restart
            self._iterator = iter(self._dataloader)
            return next(self._iterator)


@LOOPS.register_module()
class ExactResumeIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` that resumes at the sampler level (see the module docs).

    Arguments as ``IterBasedTrainLoop``.
    """

    restores_random_state = True

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_iters: int,
                 val_begin: int = 1,
                 val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        # IterBasedTrainLoop.__init__, except for when the data iterator is created
        BaseLoop.__init__(self, runner, _resumable_dataloader_cfg(dataloader))
        self._max_iters = int(max_iters)
        assert self._max_iters == max_iters, \
            f'`max_iters` should be a integer number, but get {max_iters}'
        self._max_epochs = 1
        self._epoch = 0
        self._iter = 0
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.stop_training = False
        if hasattr(self.dataloader.dataset, 'metainfo'):
            self.runner.visualizer.dataset_meta = self.dataloader.dataset.metainfo
        # Created here, as mmengine does (same random draws), except when resuming with
        # worker processes: they would prefetch batches from the start of the run, and
        # InfiniteSampler's index stream is shared by all iterators.
        lazy = getattr(runner, '_resume', False) and getattr(self.dataloader, 'num_workers', 0)
        self.dataloader_iterator = None if lazy else _InfiniteIterator(self.dataloader)
        self.dynamic_milestones, self.dynamic_intervals = calc_dynamic_intervals(
            self.val_interval, dynamic_intervals)

    def _iterator_after(self, num_batches: int) -> _InfiniteIterator:
        """A data iterator whose next batch is batch ``num_batches`` (0-based) of the run."""
        batch_sampler = _resumable(self.dataloader)
        if batch_sampler is None:
            print_log(f'the data loader was passed as an object: skipping {num_batches} '
                      'batches by loading them (random augmentations in them change the '
                      'generator states)', logger='current', level=logging.WARNING)
            iterator = _InfiniteIterator(self.dataloader)
            for _ in range(num_batches):
                next(iterator)
            return iterator
        start = time.time()
        epoch = 0
        indices = iter(batch_sampler.batch_sampler)
        for _ in range(num_batches):
            try:
                next(indices)
            except StopIteration:
                epoch += 1
                _set_sampler_epoch(self.dataloader, epoch)
                indices = iter(batch_sampler.batch_sampler)
                next(indices)
        batch_sampler.continue_from(indices)
        iterator = _InfiniteIterator(self.dataloader, epoch=epoch)
        print_log(f'Resumed the data order at the sampler level: skipped {num_batches} batches '
                  f'(sampler epoch {epoch}) in {time.time() - start:.2f} s without loading them',
                  logger='current')
        return iterator

    def run(self) -> torch.nn.Module:
        """Launch training."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        if self._iter > 0:
            self.dataloader_iterator = self._iterator_after(self._iter)
        elif self.dataloader_iterator is None:
            self.dataloader_iterator = _InfiniteIterator(self.dataloader)
        # the state of the end of iteration ``self._iter - 1``; nothing draws from here on
        # until the next batch is loaded, in this run as in an uninterrupted one
        restore_random_state(self.runner)
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()

            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)

            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                self.runner.val_loop.run()

        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model


@LOOPS.register_module()
class ExactResumeEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes mid-epoch at the sampler level (see the module docs).

    A checkpoint taken at an iteration inside an epoch (``CheckpointHook``
    with ``by_epoch=False``) resumes with the next batch of that epoch instead
    of repeating the epoch. Arguments as ``EpochBasedTrainLoop``.
    """

    restores_random_state = True

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_epochs: int,
                 val_begin: int = 1,
                 val_interval: int = 1,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        super().__init__(runner, _resumable_dataloader_cfg(dataloader), max_epochs,
                         val_begin=val_begin, val_interval=val_interval,
                         dynamic_intervals=dynamic_intervals)
        self._resume_batches = 0

    def run(self) -> torch.nn.Module:
        """Launch training."""
        # batches of the current epoch consumed before the checkpoint (0 at an epoch end)
        self._resume_batches = max(0, self._iter - self._epoch * len(self.dataloader))
        return super().run()

    def _iterator_after(self, num_batches: int):
        batch_sampler = _resumable(self.dataloader)
        if batch_sampler is None:
            print_log(f'the data loader was passed as an object: skipping {num_batches} '
                      'batches by loading them', logger='current', level=logging.WARNING)
            iterator = iter(self.dataloader)
            for _ in range(num_batches):
                next(iterator)
            return iterator
        if num_batches > len(self.dataloader):
            raise RuntimeError(
                f'cannot resume: the checkpoint is at iteration {self._iter} of epoch '
                f'{self._epoch + 1}, i.e. {num_batches} batches into an epoch of '
                f'{len(self.dataloader)}; the data or batch size differ from the run that '
                'wrote it')
        indices = iter(batch_sampler.batch_sampler)
        for _ in range(num_batches):
            next(indices)
        batch_sampler.continue_from(indices)
        print_log(f'Resumed in the middle of epoch {self._epoch + 1}: skipped {num_batches} '
                  'batches at the sampler level without loading them', logger='current')
        return iter(self.dataloader)

    def run_epoch(self) -> None:
        """Iterate one epoch (from the resume position, the first time after a resume)."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        skip, self._resume_batches = self._resume_batches, 0
        if skip > 0:
            # taken after batch ``skip - 1``: this epoch's iterator already existed then
            data_iterator = self._iterator_after(skip)
            restore_random_state(self.runner)
        else:
            # taken at the end of the previous epoch: the iterator is created after it
            restore_random_state(self.runner)
            data_iterator = iter(self.dataloader)
        for idx, data_batch in enumerate(data_iterator, start=skip):
            self.run_iter(idx, data_batch)

        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
