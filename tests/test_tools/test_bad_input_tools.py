"""Bad input through the real tools, as a user runs them: a ``load_from`` of another
architecture, NaN predictions in ``tools/test.py``, a misspelt top-level key."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from tool_runner import ROOT
from train_runs import CLS_TEACHER_CFG, GD_CFG, MAE_CFG, train, untrained_teacher

pytestmark = pytest.mark.slow


def run_tool(args):
    """``(exit code, stdout + stderr)`` of a tool that may fail."""
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def gd_options(shapes_root, teacher):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={shapes_root}/cls',
            'train_dataloader.batch_size=20', f'model.teacher_ckpt={teacher}',
            'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1']


def test_load_from_of_another_architecture_is_refused_unless_partial(tmp_path, shapes_root):
    teacher = untrained_teacher(MAE_CFG, 'mmpretrain', tmp_path / 'mae.pth')
    opts = gd_options(shapes_root, teacher) + [f'load_from={teacher}']
    work = tmp_path / 'refused'
    rc, out = run_tool(['tools/train.py', GD_CFG, '--work-dir', str(work), *opts])
    assert rc != 0
    assert (f'{teacher} does not fit the model of {GD_CFG} (GenericDistiller): ' in out
            and 'missing key(s): ' in out and 'unexpected key(s): ' in out), out[-3000:]
    assert 'Pass --partial-load to load only the matching weights.' in out
    assert not list(work.glob('*.pth'))

    work = tmp_path / 'partial'
    log = train([GD_CFG, '--partial-load', *opts], work)
    assert f'--partial-load: {teacher} is loaded non-strictly' in log
    assert (work / 'epoch_1.pth').is_file()


def test_nan_predictions_stop_the_test_tool(tmp_path, shapes_root):
    ckpt = untrained_teacher(CLS_TEACHER_CFG, 'mmpretrain', tmp_path / 'cls.pth')
    work = tmp_path / 'test'
    rc, out = run_tool([
        'tools/test.py', CLS_TEACHER_CFG, ckpt, '--work-dir', str(work), '--cfg-options',
        f'test_dataloader.dataset.data_root={shapes_root}/cls', 'data_preprocessor.std=[0,0,0]',
        'model.backbone.init_cfg=None'])
    assert rc != 0
    first = osp.join(shapes_root, 'cls', 'val')
    assert ('FloatingPointError: non-finite model output in test batch 0, sample 0 of the '
            f'batch, dataset index 0 ({first}/') in out, out[-3000:]
    assert 'NaN/Inf in pred_score' in out
    assert 'accuracy/top1' not in out and not (work / 'metrics.json').exists()


def test_misspelt_top_level_key_is_refused(tmp_path, shapes_root):
    """A run that would otherwise train from scratch (exit 0) without a word."""
    teacher = untrained_teacher(MAE_CFG, 'mmpretrain', tmp_path / 'mae.pth')
    work = tmp_path / 'work'
    rc, out = run_tool(['tools/train.py', GD_CFG, '--work-dir', str(work),
                        *gd_options(shapes_root, teacher), f'lod_from={teacher}'])
    assert rc != 0
    assert (f"ValueError: {GD_CFG}: unknown top-level config key(s) 'lod_from' (did you mean "
            "'load_from'?)") in out, out[-3000:]
    assert not list(work.glob('*.pth'))
