"""Shared by the resume, kill and parity tests: untrained teachers, logged scalars,
interrupted tools/train.py runs."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch
from mmengine.config import Config
from mmengine.registry import MODELS

from tool_runner import ROOT, run

GD_CFG = 'configs/pretrain/g2sd_vit-tiny-p8_gd_1xb32-8e_shapes.py'
MAE_CFG = 'configs/pretrain/mae_vit-tiny-p8_1xb32-15e_shapes.py'
DET_TEACHER_CFG = 'configs/det/vitdet_mask-rcnn_vit-64d-mae_simple-fpn_1xb2-450it_shapes.py'
DET_G2SD_CFG = 'configs/det/g2sd_vit-32d_mask-rcnn_1xb2-300it_shapes.py'
SEG_TEACHER_CFG = 'configs/seg/upernet_vit-64d-mae_feature2pyramid_1xb4-600it_shapes.py'
SEG_G2SD_CFG = 'configs/seg/g2sd_vit-32d_upernet_1xb4-400it_shapes.py'
CLS_TEACHER_CFG = 'configs/cls/vit-64d-p8-mae-ft_1xb32-15e_shapes.py'
CLS_G2SD_CFG = 'configs/cls/g2sd_vit-32d_cls_1xb32-10e_shapes.py'
INTERRUPTED = osp.join(ROOT, 'tests', 'test_tools', 'interrupted_train.py')


def untrained_teacher(cfg_path, scope, out_path):
    """The model of ``cfg_path`` with its constructor's random weights, as a checkpoint.

    The distillation runs only need a teacher of the right architecture; training
    one first would only cost time.
    """
    import g2sd_mm  # noqa: F401  (registers the g2sd_mm models)
    cfg = Config.fromfile(osp.join(ROOT, cfg_path))
    model_cfg = cfg.model
    if 'backbone' in model_cfg:
        model_cfg.backbone.init_cfg = None
    model_cfg._scope_ = scope  # a scope for this build only, not the process default
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    torch.save(dict(state_dict=model.state_dict()), out_path)
    return str(out_path)


def scalars(work_dir):
    """Training records of every run in ``work_dir``'s scalars.json files, by iteration.

    Runs are read in timestamp order, so for an iteration logged twice (a killed run
    that logged past its last checkpoint, then the resumed run) the later run wins.
    """
    runs = sorted(d for d in os.listdir(work_dir)
                  if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    out = {}
    for run_dir in runs:
        with open(osp.join(work_dir, run_dir, 'vis_data', 'scalars.json')) as f:
            for line in f:
                record = json.loads(line)
                if 'loss' in record:
                    out[record['iter']] = record
    return out


def losses(records, first, last):
    """``{iter: {name: value}}`` of the loss terms and learning rate, iterations first..last."""
    return {it: {k: v for k, v in records[it].items() if 'loss' in k or k == 'lr'}
            for it in range(first, last + 1)}


def train(args, work_dir, timeout=900, env=None):
    """tools/train.py, single process, one CPU thread."""
    return run([sys.executable, 'tools/train.py', *args[:1], '--work-dir', str(work_dir),
                *args[1:]], timeout=timeout, env=env, single_thread=True)


def train_killed_after(checkpoint, args, work_dir, timeout=900):
    """tools/train.py that SIGKILLs itself once ``checkpoint`` (and its pointer) is written."""
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run(
        [sys.executable, INTERRUPTED, '--kill-after-checkpoint', checkpoint, '--',
         args[0], '--work-dir', str(work_dir), *args[1:]],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != -signal.SIGKILL:
        raise AssertionError(f'expected SIGKILL after {checkpoint}, got {proc.returncode}:\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc.stdout + proc.stderr


def train_killed_while_writing(checkpoint, args, work_dir, marker, timeout=600):
    """tools/train.py SIGKILLed by this process while half of ``checkpoint`` is written.

    Returns ``(temporary file, full size)`` of the interrupted write.
    """
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.setdefault('OMP_NUM_THREADS', '1')
    with open(osp.join(str(work_dir) + '.log'), 'w') as log:
        proc = subprocess.Popen(
            [sys.executable, INTERRUPTED, '--block-writing', checkpoint, '--marker', str(marker),
             '--', args[0], '--work-dir', str(work_dir), *args[1:]],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        try:
            while not osp.exists(marker):
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f'no blocked write of {checkpoint} (exit '
                                         f'{proc.returncode}); see {log.name}')
                time.sleep(0.2)
            proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    tmp, size = open(marker).read().split()
    return tmp, int(size)
