"""Stage 2 detection end to end on the shapes data through the real tools:
teacher detector -> FRS distillation (train + COCO eval) -> student extraction
-> tools/test.py with the student-only config; 2-process CPU run; mmdet's own
train tool with our components."""
import glob
import json
import os.path as osp
import sys

import mmdet
import pytest
import torch

from tool_runner import ROOT, run

TEACHER_CFG = 'configs/det/vitdet_mask-rcnn_vit-64d-mae_simple-fpn_1xb2-450it_shapes.py'
STUDENT_CFG = 'configs/det/vitdet_mask-rcnn_vit-32d-g2sd_simple-fpn_1xb2-300it_shapes.py'
G2SD_CFG = 'configs/det/g2sd_vit-32d_mask-rcnn_1xb2-300it_shapes.py'

pytestmark = pytest.mark.slow


def data_opts(shapes_root, prefix=''):
    coco = f'{shapes_root}/coco/'
    return [f'{k}.dataset.data_root={coco}' for k in
            ('train_dataloader', 'val_dataloader', 'test_dataloader')] + [
        f'val_evaluator.ann_file={coco}annotations/instances_val.json',
        f'test_evaluator.ann_file={coco}annotations/instances_val.json']


@pytest.fixture(scope='module')
def det_teacher(tmp_path_factory, shapes_root):
    work = tmp_path_factory.mktemp('det_teacher')
    run([sys.executable, 'tools/train.py', TEACHER_CFG, '--work-dir', str(work), '--cfg-options',
         *data_opts(shapes_root), 'model.backbone.init_cfg=None', 'train_cfg.max_iters=6',
         'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=6'])
    return str(work / 'iter_6.pth')


@pytest.fixture(scope='module')
def g2sd_run(tmp_path_factory, shapes_root, det_teacher):
    work = tmp_path_factory.mktemp('det_g2sd')
    log = run([sys.executable, 'tools/train.py', G2SD_CFG, '--work-dir', str(work),
               '--cfg-options', *data_opts(shapes_root), f'model.teacher_ckpt={det_teacher}',
               'model.student.backbone.init_cfg=None', 'train_cfg.max_iters=6',
               'train_cfg.val_interval=6', 'default_hooks.checkpoint.interval=6',
               'default_hooks.logger.interval=1'])
    return str(work), log


def test_distillation_trains_and_evaluates_coco(g2sd_run):
    work, log = g2sd_run
    assert 'distill.loss_frs_feat' in log and 'distill.loss_frs_obj' in log
    assert 'loss_mask' in log
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log  # student evaluated
    state = torch.load(osp.join(work, 'iter_6.pth'), map_location='cpu',
                       weights_only=True)['state_dict']
    assert not any(k.startswith('teacher.') for k in state)
    assert any(k.startswith('adapters.') for k in state)


def test_student_extraction_tests_with_the_baseline_config(g2sd_run, tmp_path, shapes_root):
    work, _ = g2sd_run
    out = tmp_path / 'student.pth'
    run([sys.executable, 'tools/model_converters/extract_student.py',
         osp.join(work, 'iter_6.pth'), str(out)])
    metrics_file = tmp_path / 'metrics.json'
    log = run([sys.executable, 'tools/test.py', STUDENT_CFG, str(out), '--work-dir',
               str(tmp_path / 'test'), '--out-metrics', str(metrics_file), '--cfg-options',
               *data_opts(shapes_root), 'model.backbone.init_cfg=None'])
    assert 'missing keys' not in log.lower() and 'unexpected key' not in log.lower()
    metrics = json.loads(metrics_file.read_text())
    assert 'coco/bbox_mAP' in metrics and 'coco/segm_mAP' in metrics


def test_dist_train_two_cpu_processes(tmp_path, shapes_root, det_teacher):
    log = run(['bash', 'tools/dist_train.sh', G2SD_CFG, '2', '--work-dir', str(tmp_path),
               '--cfg-options', *data_opts(shapes_root), f'model.teacher_ckpt={det_teacher}',
               'model.student.backbone.init_cfg=None', 'train_cfg.max_iters=3',
               'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=3',
               'train_dataloader.batch_size=2'],
              env=dict(PORT='29531', PYTHON=sys.executable))
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert osp.exists(tmp_path / 'iter_3.pth')


def test_mmdet_own_train_tool_runs_our_components(tmp_path, shapes_root):
    tool = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')
    run([sys.executable, tool, STUDENT_CFG, '--work-dir', str(tmp_path), '--cfg-options',
         *data_opts(shapes_root), 'model.backbone.init_cfg=None', 'train_cfg.max_iters=2',
         'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2'],
        env=dict(PYTHONPATH=ROOT))
    assert glob.glob(str(tmp_path / 'iter_2.pth'))
