"""Generic distillation and classification distillation on 2 processes with
batch B each == 1 process with batch 2B.

Why it can hold: mmengine's DefaultSampler shuffles one index list with the shared
seed and deals it out rank-strided, so at every step the two ranks' batches
together are exactly the single process's batch (checked below); the per-sample
masks depend on (mask seed, iteration, sample index) only; DDP averages the two
ranks' gradients, which for equal per-rank batches is the gradient of the mean loss
over the whole batch; LayerNorm ViTs have no batch statistics; the ranks seed their
generators differently (``diff_rank_seed``, as the full-size configs) but share rank
0's mask seed (mmengine's Runner broadcasts the state dict). What it needs: a
deterministic pipeline (tests/configs/g2sd_gd_parity_shapes.py: resize only,
because RandomResizedCrop/RandomFlip draw per process), and comparing the mean of
the two ranks' losses (``MeanLogVarsHook``) with the single process's loss.

Measured on the CPU (gloo, OMP_NUM_THREADS=1), 15 iterations: max relative
difference 1.2e-7, max absolute 3.0e-8 (2.1e-7 and 4.5e-8 without diff_rank_seed):
float32 rounding of the gradient all-reduce. Tolerance: relative 1e-5. With masks
from the global generators (``model.mask_rng=global``, the control below) the
difference reaches 4e-3 within the first epoch; rank 0's own loss (what mmengine
logs without ``MeanLogVarsHook``) differs from the whole batch's by 4e-3 to 2e-2.
"""
import sys

import pytest
from mmengine.dataset import DefaultSampler

from tool_runner import run
from train_runs import CLS_TEACHER_CFG, MAE_CFG, scalars, untrained_teacher

CFG = 'tests/configs/g2sd_gd_parity_shapes.py'
CLS_CFG = 'tests/configs/g2sd_cls_parity_shapes.py'
RTOL = 1e-5
CLS_RTOL = 1e-5  # classification, fp32: measured 8.8e-8 relative, 1.2e-7 absolute


def rank_batches(monkeypatch, dataset_len, batch, rank, world_size, epoch):
    monkeypatch.setattr('mmengine.dataset.sampler.get_dist_info',
                        lambda: (rank, world_size))
    sampler = DefaultSampler(list(range(dataset_len)), shuffle=True, seed=0)
    sampler.set_epoch(epoch)
    indices = list(sampler)
    return [indices[i:i + batch] for i in range(0, len(indices), batch)]


@pytest.mark.parametrize('epoch', [0, 1])
def test_rank_batches_together_are_the_single_process_batch(monkeypatch, epoch):
    single = rank_batches(monkeypatch, 40, 8, 0, 1, epoch)
    ranks = [rank_batches(monkeypatch, 40, 4, r, 2, epoch) for r in (0, 1)]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 5
    for step, batch in enumerate(single):
        a, b = ranks[0][step], ranks[1][step]
        assert not set(a) & set(b) and sorted(a + b) == sorted(batch)


def relative_differences(one, two):
    assert sorted(one) == sorted(two)
    return {it: abs(one[it]['loss'] - two[it]['loss']) / abs(one[it]['loss']) for it in one}


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
    return untrained_teacher(MAE_CFG, 'mmpretrain', tmp_path_factory.mktemp('parity') / 'mae.pth')


def one_and_two_processes(tmp_path, shapes_root, teacher, epochs, *extra, cfg=CFG):
    opts = [f'train_dataloader.dataset.data_root={shapes_root}/cls',
            f'model.teacher_ckpt={teacher}', f'train_cfg.max_epochs={epochs}', *extra]
    env = dict(OMP_NUM_THREADS='1')
    run([sys.executable, 'tools/train.py', cfg, '--work-dir', str(tmp_path / 'one'),
         '--cfg-options', *opts, 'train_dataloader.batch_size=8'], env=env)
    log = run(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', str(tmp_path / 'two'),
               '--cfg-options', *opts, 'train_dataloader.batch_size=4'],
              env=dict(env, PORT='29547', PYTHON=sys.executable))
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    return scalars(tmp_path / 'one'), scalars(tmp_path / 'two')


@pytest.mark.slow
def test_two_processes_follow_the_single_process_loss(tmp_path, shapes_root, teacher):
    one, two = one_and_two_processes(tmp_path, shapes_root, teacher, 3)
    assert sorted(one) == list(range(1, 16))  # 40 images / 8 per step, 3 epochs
    rel = relative_differences(one, two)
    print(f'max relative difference {max(rel.values()):.2e}, max absolute '
          f'{max(abs(one[i]["loss"] - two[i]["loss"]) for i in one):.2e}')
    assert max(rel.values()) < RTOL, rel


@pytest.mark.slow
def test_control_global_generator_masks_break_parity(tmp_path, shapes_root, teacher):
    one, two = one_and_two_processes(tmp_path, shapes_root, teacher, 1, 'model.mask_rng=global')
    assert max(relative_differences(one, two).values()) > 100 * RTOL


@pytest.mark.slow
def test_classification_distillation_two_processes_follow_one(tmp_path, shapes_root):
    """Stage 2, classification: distillation token + hard distillation (LayerNorm
    ViTs, fp32), 2 x 4 vs 1 x 8, 2 epochs."""
    teacher = untrained_teacher(CLS_TEACHER_CFG, 'mmpretrain', tmp_path / 'cls_teacher.pth')
    one, two = one_and_two_processes(
        tmp_path, shapes_root, teacher, 2, 'model.student.backbone.init_cfg=None',
        'train_cfg.val_interval=10', f'val_dataloader.dataset.data_root={shapes_root}/cls',
        f'test_dataloader.dataset.data_root={shapes_root}/cls', cfg=CLS_CFG)
    assert sorted(one) == list(range(1, 11))
    for it in one:
        assert set(one[it]) >= {'loss_cls', 'distill.loss_hard'}
    rel = relative_differences(one, two)
    print(f'max relative difference {max(rel.values()):.2e}, max absolute '
          f'{max(abs(one[i]["loss"] - two[i]["loss"]) for i in one):.2e}')
    assert max(rel.values()) < CLS_RTOL, rel
