"""What an interrupted checkpoint write leaves behind: stale temporary files are
removed (and logged) when training starts again, and the previous best checkpoint
survives a failure while the new best one is written."""
import glob
import itertools
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner

from g2sd_mm.checkpoint import load_checkpoint_file


class Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.fc(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return [dict(pred=v) for v in out.detach()]


class IterationScore(BaseMetric):
    """A score that grows with the training iteration: every validation is a new best."""

    def process(self, data_batch, data_samples):
        self.results.append(len(data_samples))

    def compute_metrics(self, results):
        return dict(score=float(MessageHub.get_current_instance().get_info('iter')))


_RUNS = itertools.count()


def toy_runner(work_dir, hook='AtomicCheckpointHook', max_iters=4):
    torch.manual_seed(0)
    data = [dict(inputs=torch.randn(2)) for _ in range(8)]
    loader = dict(dataset=data, batch_size=2, num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=False))
    return Runner(
        # a fresh name each time: mmengine keeps one message hub (with the best score) per name
        model=Toy(), work_dir=str(work_dir), experiment_name=f'toy_{next(_RUNS)}',
        train_dataloader=dict(loader, sampler=dict(type='InfiniteSampler', shuffle=False)),
        val_dataloader=loader, val_evaluator=Evaluator([IterationScore()]),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2),
        val_cfg=dict(), optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=dict(type=hook, by_epoch=False, interval=2,
                                           max_keep_ckpts=1, save_best='score',
                                           rule='greater')),
        randomness=dict(seed=0), default_scope='mmengine')


def test_stale_temporaries_are_removed_at_start_and_logged(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    stale = [work / '.iter_4.pth.k3_9xq0a.tmp', work / '.last_checkpoint.ab12cd34.tmp']
    kept = [work / '.notes.tmp', work / 'iter_4.pth.k3_9xq0a.tmp', work / 'data.tmp']
    for path in stale + kept:
        path.write_bytes(b'partial')
    toy_runner(work, max_iters=2).train()
    assert [p.exists() for p in stale] == [False, False]
    assert all(p.exists() for p in kept)
    log = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    assert (f'Removed 2 stale temporary file(s) of checkpoint writes interrupted in an earlier '
            f'run: {stale[0]}, {stale[1]}') in log


class FailingBestSave:
    """``runner.save_checkpoint`` that raises while writing the best checkpoint of ``step``."""

    def __init__(self, runner, step):
        self.save, self.step = runner.save_checkpoint, step

    def __call__(self, out_dir, filename, *args, **kwargs):
        if filename == f'best_score_iter_{self.step}.pth':
            raise OSError('killed while writing the best checkpoint')
        return self.save(out_dir, filename, *args, **kwargs)


@pytest.mark.parametrize('hook', ['AtomicCheckpointHook', 'CheckpointHook'])
def test_previous_best_survives_a_failed_best_save(tmp_path, hook):
    work = tmp_path / 'work'
    runner = toy_runner(work, hook)
    runner.save_checkpoint = FailingBestSave(runner, 4)
    with pytest.raises(OSError, match='killed while writing the best checkpoint'):
        runner.train()
    old_best = work / 'best_score_iter_2.pth'
    assert not (work / 'best_score_iter_4.pth').exists()
    if hook == 'CheckpointHook':  # control: mmengine deleted the old best first
        assert not old_best.exists()
        return
    assert old_best.exists()
    assert load_checkpoint_file(str(old_best))['meta']['iter'] == 2


def test_best_checkpoint_replaced_after_the_new_one_is_written(tmp_path):
    work = tmp_path / 'work'
    toy_runner(work).train()
    assert sorted(osp.basename(p) for p in glob.glob(str(work / '*.pth'))) == [
        'best_score_iter_4.pth', 'iter_4.pth']
