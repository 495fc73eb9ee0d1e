"""Exact resume with an in-process mmengine Runner on a toy problem whose data
pipeline, model and validation all draw from python ``random``, numpy and torch.

An uninterrupted run of N iterations is compared with a run resumed from its
checkpoint at iteration k (copied to a fresh work dir, as a run killed right after
writing it would have left it). The per-iteration losses and sample indices must be
identical (``==``); mmengine's own loops and a run without RandomStateHook (the
controls) must not be.
"""
import gc
import random
import shutil

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet.datasets.samplers import AspectRatioBatchSampler
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import g2sd_mm  # noqa: F401  (registers the loops and hooks)
from g2sd_mm.engine import RandomStateHook, ResumableBatchSampler

LOADED = []  # (dataset tag, index) of every item whose pipeline ran in this process


class NoisyDataset(Dataset):
    """Items whose 'augmentation' draws a data-dependent number of random numbers."""

    def __init__(self, size=10, tag='train'):
        self.size = size
        self.tag = tag
        self.metainfo = dict(name='noisy')

    def __len__(self):
        return self.size

    def get_data_info(self, idx):  # portrait/landscape mix for AspectRatioBatchSampler
        return dict(width=4 if idx % 3 else 2, height=3)

    def __getitem__(self, idx):
        LOADED.append((self.tag, idx))
        x = torch.full((4,), idx / 10)
        while random.random() < 0.5:  # python random, a varying number of draws
            x += 0.1
        torch.rand(idx % 3)  # a number of draws that depends on the sample
        x += float(np.random.rand())
        x += torch.rand(4)
        return dict(inputs=x, data_samples=idx)


class DropoutModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)
        nn.init.constant_(self.fc.weight, 0.1)
        nn.init.zeros_(self.fc.bias)
        self.drop = nn.Dropout(0.5)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.fc(self.drop(x)).squeeze(1)
        if mode == 'loss':
            return dict(loss=(out - 1.0).pow(2).mean())
        return [dict(pred=o) for o in out]


class RandomMetric(BaseMetric):
    """Validation that consumes all three generators."""

    def process(self, data_batch, data_samples):
        self.results.append(random.random() + float(np.random.rand()) + float(torch.rand(1)))

    def compute_metrics(self, results):
        return dict(score=sum(results))


class Record(Hook):
    """Loss and sample indices of every training iteration, by 1-based iteration."""
    priority = 'VERY_HIGH'

    def __init__(self):
        self.steps = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.steps[runner.iter + 1] = (outputs['loss'].item(), tuple(data_batch['data_samples']))


def make_runner(work_dir, name, loop, length, *, sampler='InfiniteSampler', batch_sampler=None,
                ckpt_interval=3, by_epoch=False, val_interval=None, rng_hook=True, resume=False,
                load_from=None, distributed=False, optim_wrapper=None, num_workers=0):
    record = Record()
    hooks = [record] + ([RandomStateHook()] if rng_hook else [])
    train_cfg = dict(type=loop, **(dict(max_epochs=length) if 'Epoch' in loop else
                                   dict(max_iters=length)))
    val = {}
    if val_interval:
        train_cfg['val_interval'] = val_interval
        val = dict(val_dataloader=dict(dataset=NoisyDataset(4, 'val'), batch_size=2,
                                       sampler=dict(type='DefaultSampler', shuffle=False)),
                   val_cfg=dict(), val_evaluator=[RandomMetric()])
    loader = dict(dataset=NoisyDataset(), batch_size=3, num_workers=num_workers,
                  sampler=dict(type=sampler, shuffle=True))
    if batch_sampler is not None:
        loader['batch_sampler'] = dict(type=batch_sampler)
    runner = Runner(
        # (logger and visualizer instances are per name and process: one per test run)
        model=DropoutModel(), work_dir=str(work_dir), experiment_name=f'{name}-{work_dir}',
        train_dataloader=loader, train_cfg=train_cfg,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9),
                           **(optim_wrapper or {})),
        param_scheduler=dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=8),
        default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook', interval=ckpt_interval,
                                           by_epoch=by_epoch)),
        custom_hooks=hooks, randomness=dict(seed=1), resume=resume, load_from=load_from,
        default_scope='mmengine', log_level='WARNING', **val, **(dict(
            launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='gloo')),
            cfg=dict(model_wrapper_cfg=dict(type='MMDistributedDataParallel', device_ids=None)))
            if distributed else {}))
    return runner, record


def reference_and_resumed(tmp_path, loop, length, checkpoint, copy=True, **kw):
    """Steps of an uninterrupted run and of a run resumed from its ``checkpoint``.

    The interrupted run is the reference run up to that checkpoint (same
    config, so the same file), copied to a fresh work dir with its
    ``last_checkpoint`` pointer; ``resume=True`` finds it from there.
    """
    ref, ref_record = make_runner(tmp_path / 'ref', 'ref', loop, length, **kw)
    ref.train()
    cut = tmp_path / 'cut'
    if copy:  # (in a distributed run: rank 0, between barriers)
        cut.mkdir()
        shutil.copy(tmp_path / 'ref' / checkpoint, cut / checkpoint)
        (cut / 'last_checkpoint').write_text(str(cut / checkpoint))
    if kw.get('distributed'):
        torch.distributed.barrier()
    del LOADED[:]
    resumed, record = make_runner(cut, 'resumed', loop, length, resume=True, **kw)
    resumed.train()
    return ref_record.steps, record.steps, resumed


def after(steps, start):
    return {k: v for k, v in steps.items() if k > start}


def loaded_train_samples():
    return sum(1 for tag, _ in LOADED if tag == 'train')


@pytest.mark.parametrize('sampler,batch_sampler,stop', [
    ('InfiniteSampler', None, 6),
    ('InfiniteSampler', AspectRatioBatchSampler, 6),  # keeps partly filled buckets across yields
    ('DefaultSampler', None, 4),                      # 4 batches per epoch: resume at a restart
    ('DefaultSampler', None, 6),                      # resume inside the second sampler epoch
])
def test_iter_loop_resumes_exactly(tmp_path, sampler, batch_sampler, stop):
    ref, resumed, runner = reference_and_resumed(
        tmp_path, 'ExactResumeIterBasedTrainLoop', 11, f'iter_{stop}.pth', sampler=sampler,
        batch_sampler=batch_sampler, ckpt_interval=2, val_interval=stop)
    assert sorted(resumed) == list(range(stop + 1, 12))
    assert resumed == after(ref, stop)  # losses and sample indices, exactly
    # skipped at the sampler level: only the batches trained on were loaded
    assert loaded_train_samples() == sum(len(idx) for _, idx in resumed.values())
    assert isinstance(runner.train_dataloader.batch_sampler, ResumableBatchSampler)


@pytest.mark.parametrize('by_epoch,checkpoint,done', [
    (True, 'epoch_1.pth', 4),   # end of epoch 1 (10 samples, batch 3: 4 batches per epoch)
    (False, 'iter_3.pth', 3),   # inside epoch 1
    (False, 'iter_6.pth', 6),   # inside epoch 2
    (False, 'iter_4.pth', 4),   # last batch of epoch 1, before its after_train_epoch
])
def test_epoch_loop_resumes_exactly(tmp_path, by_epoch, checkpoint, done):
    ref, resumed, _ = reference_and_resumed(
        tmp_path, 'ExactResumeEpochBasedTrainLoop', 3, checkpoint, sampler='DefaultSampler',
        ckpt_interval=1 if by_epoch else 3 if done != 4 else 4, by_epoch=by_epoch,
        val_interval=1)
    assert sorted(resumed) == list(range(done + 1, 13))
    assert resumed == after(ref, done)
    assert loaded_train_samples() == sum(len(idx) for _, idx in resumed.values())


def test_amp_loss_scaler_state_is_resumed(tmp_path):
    # fp16 autocast with a dynamic loss scaler on the CPU; a tiny growth interval makes
    # the scale change during the run, so a scaler restarted from its initial scale
    # would change the updates after the resume
    amp = dict(type='AnyDeviceAmpOptimWrapper', dtype='float16',
               loss_scale=dict(init_scale=2.0 ** 4, growth_interval=2))
    ref, resumed, runner = reference_and_resumed(
        tmp_path, 'ExactResumeIterBasedTrainLoop', 9, 'iter_4.pth', ckpt_interval=2,
        optim_wrapper=amp)
    assert resumed == after(ref, 4)
    saved = torch.load(tmp_path / 'cut' / 'iter_4.pth', weights_only=True)['optimizer']
    assert saved['loss_scaler']['scale'] == 2.0 ** 6  # grown twice in 4 iterations
    assert runner.optim_wrapper.loss_scaler.get_scale() == 2.0 ** 8


@pytest.mark.parametrize('loop,checkpoint,kw,exact', [
    ('ExactResumeEpochBasedTrainLoop', 'epoch_1.pth',
     dict(sampler='DefaultSampler', ckpt_interval=1, by_epoch=True), True),
    ('ExactResumeEpochBasedTrainLoop', 'iter_6.pth', dict(sampler='DefaultSampler'), False),
    # (slow: the workers of an unfinished infinite iterator take seconds to shut down)
    pytest.param('ExactResumeIterBasedTrainLoop', 'iter_6.pth',
                 dict(batch_sampler=AspectRatioBatchSampler), False, marks=pytest.mark.slow),
])
def test_with_workers_data_order_is_exact_and_values_only_at_epoch_ends(tmp_path, loop,
                                                                       checkpoint, kw, exact):
    # Workers are seeded by mmengine at every start; the uninterrupted run restarts
    # them (non-persistent) at epoch ends only, the resumed run at the resume point.
    ref, resumed, _ = reference_and_resumed(
        tmp_path, loop, 3 if 'Epoch' in loop else 11, checkpoint, num_workers=2,
        val_interval=1 if 'Epoch' in loop else 6, **kw)
    start = min(resumed) - 1
    expected = after(ref, start)
    assert [idx for _, idx in resumed.values()] == [idx for _, idx in expected.values()]
    assert (resumed == expected) == exact
    gc.collect()  # shut the runs' workers down here, not during the next test


@pytest.mark.parametrize('kind,length', [('Iter', 7), ('Epoch', 2)])
def test_without_a_resume_the_loops_train_like_mmengine(tmp_path, kind, length):
    steps = []
    for loop in (f'{kind}BasedTrainLoop', f'ExactResume{kind}BasedTrainLoop'):
        runner, record = make_runner(tmp_path / loop, loop, loop, length, rng_hook=False,
                                     sampler='InfiniteSampler' if kind == 'Iter' else
                                     'DefaultSampler')
        runner.train()
        steps.append(record.steps)
    assert steps[0] == steps[1] and len(steps[0]) >= 7


def test_stock_epoch_loop_with_the_hook_is_exact_at_epoch_boundaries(tmp_path):
    ref, resumed, _ = reference_and_resumed(
        tmp_path, 'EpochBasedTrainLoop', 3, 'epoch_1.pth', sampler='DefaultSampler',
        ckpt_interval=1, by_epoch=True, val_interval=1)
    assert resumed == after(ref, 4)


@pytest.mark.parametrize('loop,rng_hook', [
    ('IterBasedTrainLoop', True),              # mmengine's loop loads the skipped batches
    ('ExactResumeIterBasedTrainLoop', False),  # no saved states: re-seeded generators
])
def test_controls_are_not_exact(tmp_path, loop, rng_hook):
    ref, resumed, _ = reference_and_resumed(tmp_path, loop, 11, 'iter_6.pth', rng_hook=rng_hook)
    assert sorted(resumed) == list(range(7, 12))
    assert [idx for _, idx in resumed.values()] == [idx for _, idx in after(ref, 6).values()]
    assert [loss for loss, _ in resumed.values()] != [loss for loss, _ in after(ref, 6).values()]


@pytest.mark.parametrize('rng_hook', [True, False])
def test_validation_does_not_change_training(tmp_path, rng_hook):
    steps = []
    for name, interval in (('a', 2), ('b', 100)):
        runner, record = make_runner(tmp_path / name, name, 'ExactResumeIterBasedTrainLoop', 6,
                                     val_interval=interval, rng_hook=rng_hook)
        runner.train()  # (the runner seeds the generators when it is built)
        steps.append(record.steps)
    assert (steps[0] == steps[1]) == rng_hook  # without the hook validation draws change it


def test_checkpoint_holds_loadable_random_states(tmp_path):
    runner, _ = make_runner(tmp_path, 'states', 'ExactResumeIterBasedTrainLoop', 3)
    runner.train()
    ckpt = torch.load(tmp_path / 'iter_3.pth', map_location='cpu', weights_only=True)
    states = ckpt['random_states']
    assert states['world_size'] == 1 and len(states['ranks']) == 1
    assert set(states['ranks'][0]) == {'python', 'numpy', 'torch', 'cuda'}
    assert ckpt['message_hub'] and ckpt['optimizer'] and ckpt['param_schedulers']


def test_load_from_does_not_restore_the_generators(tmp_path):
    runner, _ = make_runner(tmp_path / 'a', 'a', 'ExactResumeIterBasedTrainLoop', 3)
    runner.train()
    final = []
    for name, load_from in (('b', str(tmp_path / 'a' / 'iter_3.pth')), ('c', None)):
        runner, _ = make_runner(tmp_path / name, name, 'ExactResumeIterBasedTrainLoop', 2,
                                load_from=load_from)
        runner.train()
        final.append((torch.get_rng_state(), random.getstate()))
    # the same draws from the same seeded start: nothing was restored for load_from
    assert torch.equal(final[0][0], final[1][0]) and final[0][1] == final[1][1]


def test_random_state_round_trip():
    from g2sd_mm.engine import get_random_state, set_random_state
    state = get_random_state()
    first = (random.random(), float(np.random.rand()), float(torch.rand(1)), np.random.randn())
    set_random_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1)),
            np.random.randn()) == first


def _distributed_worker(rank, tmp_path, port):
    import os
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE='2', LOCAL_RANK=str(rank), OMP_NUM_THREADS='1')
    torch.distributed.init_process_group('gloo', rank=rank, world_size=2)
    from g2sd_mm.engine import MeanLogVarsHook
    outputs = dict(loss=torch.tensor(float(rank + 1)), acc=3.0 * rank)
    MeanLogVarsHook().after_train_iter(None, 0, outputs=outputs)
    mean = (outputs['loss'].item(), outputs['acc'].item())

    ref, resumed, runner = reference_and_resumed(
        tmp_path, 'ExactResumeIterBasedTrainLoop', 9, 'iter_4.pth', copy=rank == 0,
        batch_sampler=AspectRatioBatchSampler, ckpt_interval=2, val_interval=4,
        distributed=True)
    states = torch.load(tmp_path / 'cut' / 'iter_4.pth', weights_only=True)['random_states']
    torch.save(dict(ref=ref, resumed=resumed, mean=mean, world_size=states['world_size'],
                    saved=len(states['ranks'])), tmp_path / f'rank{rank}.pth')
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_process_run_resumes_exactly_on_every_rank(tmp_path):
    """Every rank gets its own generator states back (gathered by rank 0 at the
    checkpoint); MeanLogVarsHook averages the logged values over the ranks."""
    import torch.multiprocessing as mp
    mp.start_processes(_distributed_worker, args=(tmp_path, 29549), nprocs=2,
                       start_method='spawn')
    results = [torch.load(tmp_path / f'rank{r}.pth', weights_only=False) for r in (0, 1)]
    for r in results:
        assert r['world_size'] == r['saved'] == 2
        assert sorted(r['resumed']) == list(range(5, 10))
        assert r['resumed'] == after(r['ref'], 4)
        assert r['mean'] == (1.5, 1.5)
    assert results[0]['ref'][5][1] != results[1]['ref'][5][1]  # the ranks saw other samples
    states = torch.load(tmp_path / 'cut' / 'iter_4.pth', weights_only=True)['random_states']
    assert not torch.equal(states['ranks'][0]['torch'], states['ranks'][1]['torch'])
