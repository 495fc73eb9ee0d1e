"""Stage 2 (classification) end to end through the real tools: teacher and
student-only baseline -> tools/train.py distillation (validation top-1) ->
student extraction -> tools/test.py with the plain student config -> the
retention table."""
import json
import os.path as osp
import sys

import pytest
import torch
from tool_runner import run

TEACHER_CFG = 'configs/cls/vit-64d-p8-mae-ft_1xb32-15e_shapes.py'
BASELINE_CFG = 'configs/cls/vit-32d-p8-g2sd-gd_1xb32-10e_shapes.py'
STUDENT_CFG = 'configs/cls/vit-32d-p8-distilled_g2sd-gd_1xb32-10e_shapes.py'
G2SD_CFG = 'configs/cls/g2sd_vit-32d_cls_1xb32-10e_shapes.py'

pytestmark = pytest.mark.slow


def data(shapes_root, batch=16):
    root = f'{shapes_root}/cls'
    return [f'train_dataloader.dataset.data_root={root}', f'train_dataloader.batch_size={batch}',
            f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}',
            'default_hooks.logger.interval=1']


def train(cfg, work, *options, epochs=1):
    return run([sys.executable, 'tools/train.py', cfg, '--work-dir', str(work), '--cfg-options',
                f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1', *options],
               single_thread=True)


def evaluate(cfg, ckpt, work, shapes_root, *options):
    out = work / 'metrics.json'
    run([sys.executable, 'tools/test.py', cfg, str(ckpt), '--work-dir', str(work / 'test'),
         '--out-metrics', str(out), '--cfg-options', *data(shapes_root),
         'model.backbone.init_cfg=None', *options], single_thread=True)
    with open(out) as f:
        return out, json.load(f)


@pytest.fixture(scope='module')
def cls_teacher(tmp_path_factory, shapes_root):
    work = tmp_path_factory.mktemp('cls_teacher')
    train(TEACHER_CFG, work, *data(shapes_root), 'model.backbone.init_cfg=None')
    return work


@pytest.fixture(scope='module')
def g2sd_run(tmp_path_factory, shapes_root, cls_teacher):
    work = tmp_path_factory.mktemp('cls_g2sd')
    log = train(G2SD_CFG, work, *data(shapes_root),
                f'model.teacher_ckpt={cls_teacher}/epoch_1.pth',
                'model.student.backbone.init_cfg=None', epochs=2)
    return work, log


def _scalars(work):
    lines = []
    for path in sorted(work.glob('*/vis_data/scalars.json')):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def test_distillation_trains_and_evaluates_top1(g2sd_run):
    work, log = g2sd_run
    scalars = _scalars(work)
    train_rows = [r for r in scalars if 'loss' in r]
    assert train_rows and all({'loss_cls', 'distill.loss_hard'} <= set(r) for r in train_rows)
    total = [r['loss'] for r in train_rows]
    assert all(v == pytest.approx(r['loss_cls'] + r['distill.loss_hard'], rel=1e-4)
               for v, r in zip(total, train_rows))
    val = [r for r in scalars if 'accuracy/top1' in r]
    assert len(val) == 2 and all(0.0 <= r['accuracy/top1'] <= 100.0 for r in val)
    assert (work / 'epoch_2.pth').exists()
    ckpt = torch.load(work / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert not any(k.startswith('teacher.') for k in ckpt['state_dict'])
    assert 'student.backbone.dist_token' in ckpt['state_dict']


def test_extracted_student_tests_with_the_plain_config_and_fills_the_table(
        g2sd_run, cls_teacher, tmp_path, shapes_root):
    work, _ = g2sd_run
    student = tmp_path / 'student_only.pth'
    run([sys.executable, 'tools/model_converters/extract_student.py',
         str(work / 'epoch_2.pth'), str(student)])
    g2sd_file, g2sd = evaluate(STUDENT_CFG, student, tmp_path / 'g2sd', shapes_root)
    # the distiller's own validation of the same weights gives the same top-1
    last_val = [r for r in _scalars(work) if 'accuracy/top1' in r][-1]
    assert g2sd['accuracy/top1'] == pytest.approx(last_val['accuracy/top1'])

    teacher_file, _ = evaluate(TEACHER_CFG, cls_teacher / 'epoch_1.pth',
                                   tmp_path / 'teacher', shapes_root)
    baseline = tmp_path / 'baseline'
    train(BASELINE_CFG, baseline, *data(shapes_root), 'model.backbone.init_cfg=None')
    base_file, _ = evaluate(BASELINE_CFG, baseline / 'epoch_1.pth', tmp_path / 'base',
                                shapes_root)
    table = tmp_path / 'retention.md'
    out = run([sys.executable, 'tools/analysis/g2sd_table.py', '--cls', str(teacher_file),
               str(base_file), str(g2sd_file), '--out', str(table)])
    assert '| classification | top-1 (%) |' in out and osp.exists(table)
