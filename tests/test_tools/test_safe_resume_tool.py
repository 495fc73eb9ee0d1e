"""``tools/train.py --resume`` never executes text stored in a checkpoint.

mmengine's ``Runner.resume`` runs ``meta['config']`` as a Python file; a checkpoint
that passes the weights-only loader can carry any text there. Both entry points:
an explicit file (``--resume FILE``) and the work dir's ``last_checkpoint``
pointer (``--resume`` alone)."""
import os.path as osp
import shutil

import pytest
import torch

from train_runs import GD_CFG, MAE_CFG, train, untrained_teacher

pytestmark = pytest.mark.slow


def _options(shapes_root, teacher, epochs):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={shapes_root}/cls',
            'train_dataloader.batch_size=20', f'model.teacher_ckpt={teacher}',
            f'train_cfg.max_epochs={epochs}', 'default_hooks.checkpoint.interval=1']


def _hostile_copy(src, dst, marker):
    ckpt = torch.load(src, map_location='cpu', weights_only=True)
    ckpt['meta']['config'] = f"__import__('os').system('touch {marker}')"
    torch.save(ckpt, dst)
    return str(dst)


def test_resume_never_executes_meta_config(tmp_path, shapes_root):
    teacher = untrained_teacher(MAE_CFG, 'mmpretrain', tmp_path / 'mae.pth')
    first = tmp_path / 'first'
    train([GD_CFG, *_options(shapes_root, teacher, 1)], first)
    marker = tmp_path / 'executed'
    explicit, auto = tmp_path / 'explicit', tmp_path / 'auto'
    explicit.mkdir()
    auto.mkdir()
    evil = _hostile_copy(first / 'epoch_1.pth', explicit / 'evil.pth', marker)
    pointed = _hostile_copy(first / 'epoch_1.pth', auto / 'epoch_1.pth', marker)
    (auto / 'last_checkpoint').write_text(pointed)

    executed = []
    log = train([GD_CFG, '--resume', evil, *_options(shapes_root, teacher, 2)], explicit)
    executed.append(marker.exists())
    marker.unlink(missing_ok=True)
    log_auto = train([GD_CFG, '--resume', *_options(shapes_root, teacher, 2)], auto)
    executed.append(marker.exists())
    assert executed == [False, False]  # explicit file, last_checkpoint pointer

    assert f"{evil}: ignored meta['config']" in log
    assert 'resumed epoch: 1, iter: 2' in log
    assert torch.load(explicit / 'epoch_2.pth', weights_only=True)['meta']['epoch'] == 2
    assert f'Auto resumed from the latest checkpoint {pointed}' in log_auto
    assert f"{pointed}: ignored meta['config']" in log_auto
    assert 'resumed epoch: 1, iter: 2' in log_auto
    assert osp.isfile(auto / 'epoch_2.pth')
    shutil.rmtree(first)
