"""Stage 1 end to end through the real tools: mmpretrain MAE teacher ->
tools/train.py generic distillation -> resume -> student export."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import timm
import torch
from mmengine.config import Config
from mmpretrain.models import VisionTransformer

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAE_CFG = 'configs/pretrain/mae_vit-tiny-p8_1xb32-15e_shapes.py'
GD_CFG = 'configs/pretrain/g2sd_vit-tiny-p8_gd_1xb32-8e_shapes.py'


def run(args, timeout=600, env=None):
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    if proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-5000:]}')
    return proc.stdout + proc.stderr


def data_options(shapes_root, batch=8):
    return [f'train_dataloader.dataset.data_root={shapes_root}/cls',
            f'train_dataloader.batch_size={batch}']


def losses(work_dir):
    """Training losses logged in mmengine's scalars.json (every iteration)."""
    runs = sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d))
                  and osp.exists(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    out = []
    for run_dir in runs:
        with open(osp.join(work_dir, run_dir, 'vis_data', 'scalars.json')) as f:
            out += [json.loads(line) for line in f if '"loss"' in line]
    return out


@pytest.fixture(scope='module')
def mae_teacher(tmp_path_factory, shapes_root):
    """A tiny teacher from one epoch of mmpretrain's own MAE (a full MAE checkpoint)."""
    work = tmp_path_factory.mktemp('mae_teacher')
    run(['tools/train.py', MAE_CFG, '--work-dir', str(work), '--cfg-options',
         *data_options(shapes_root), 'train_cfg.max_epochs=1'])
    return str(work / 'epoch_1.pth')


@pytest.fixture(scope='module')
def gd_run(tmp_path_factory, shapes_root, mae_teacher):
    work = tmp_path_factory.mktemp('gd')
    log = run(['tools/train.py', GD_CFG, '--work-dir', str(work), '--cfg-options',
               *data_options(shapes_root), f'model.teacher_ckpt={mae_teacher}',
               'train_cfg.max_epochs=4', 'default_hooks.logger.interval=1',
               'default_hooks.checkpoint.interval=2'])
    return str(work), log


@pytest.mark.slow
def test_gd_trains_and_loss_falls(gd_run):
    work, log = gd_run
    values = [r['loss'] for r in losses(work)]
    assert len(values) == 20  # 40 images / batch 8 x 4 epochs
    assert sum(values[-5:]) / 5 < 0.7 * sum(values[:5]) / 5, values
    assert all(v == v for v in values)
    ckpt = torch.load(osp.join(work, 'epoch_4.pth'), map_location='cpu', weights_only=True)
    assert not any(k.startswith('teacher.') for k in ckpt['state_dict'])
    assert any(k.startswith('student.') for k in ckpt['state_dict'])


@pytest.mark.slow
def test_gd_resume_continues(gd_run, shapes_root, mae_teacher):
    work, _ = gd_run
    log = run(['tools/train.py', GD_CFG, '--work-dir', work, '--resume', '--cfg-options',
               *data_options(shapes_root), f'model.teacher_ckpt={mae_teacher}',
               'train_cfg.max_epochs=5', 'default_hooks.logger.interval=1'])
    assert 'resumed epoch: 4, iter: 20' in log
    iters = [r['iter'] for r in losses(work)]
    assert iters[-5:] == [21, 22, 23, 24, 25]
    assert osp.exists(osp.join(work, 'epoch_5.pth'))


@pytest.mark.slow
def test_student_export_loads_into_mmpretrain_and_timm(gd_run, tmp_path):
    work, _ = gd_run
    prefix = str(tmp_path / 'vit-tiny-shapes')
    run(['tools/model_converters/g2sd_gd_export.py', osp.join(work, 'epoch_4.pth'), prefix])

    cfg = Config.fromfile(osp.join(ROOT, GD_CFG))
    s = cfg.model.student
    arch = s.arch
    backbone = VisionTransformer(
        arch=dict(embed_dims=arch.embed_dim, num_layers=arch.depth, num_heads=arch.num_heads,
                  feedforward_channels=4 * arch.embed_dim),
        img_size=s.img_size, patch_size=s.patch_size, final_norm=True, out_type='raw')
    state = torch.load(prefix + '_backbone.pth', map_location='cpu', weights_only=True)
    state = {k[len('backbone.'):]: v for k, v in state['state_dict'].items()}
    result = backbone.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys

    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=s.img_size, patch_size=s.patch_size, embed_dim=arch.embed_dim,
        depth=arch.depth, num_heads=arch.num_heads, num_classes=0)
    result = vit.load_state_dict(
        torch.load(prefix + '_timm.pth', map_location='cpu', weights_only=True), strict=True)
    assert not result.missing_keys and not result.unexpected_keys

    # all three compute the same features as the distilled student
    from g2sd_mm.models import MaskedAutoencoderViT
    from g2sd_mm.checkpoint import load_mae_checkpoint
    student_cfg = dict(s)
    student_cfg.pop('type')
    student = MaskedAutoencoderViT(**student_cfg).eval()
    load_mae_checkpoint(student, osp.join(work, 'epoch_4.pth'), role='student')
    x = torch.randn(2, 3, s.img_size, s.img_size)
    backbone.eval()  # (mmpretrain's train() returns None, so no chaining)
    vit.eval()
    with torch.no_grad():
        ours = student.forward_encoder(x)
        mm = backbone(x)[-1]
        tm = vit.forward_features(x)
    torch.testing.assert_close(mm, ours, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tm, ours, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_dist_train_two_cpu_processes(tmp_path, shapes_root, mae_teacher):
    log = subprocess.run(
        ['bash', 'tools/dist_train.sh', GD_CFG, '2', '--work-dir', str(tmp_path),
         '--cfg-options', *data_options(shapes_root, batch=4), f'model.teacher_ckpt={mae_teacher}',
         'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1'],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONWARNINGS='ignore', PORT='29517', PYTHON=sys.executable))
    assert log.returncode == 0, log.stderr[-5000:]
    out = log.stdout + log.stderr
    assert 'Distributed training: True' in out and 'GPU number: 2' in out  # 2 processes
    assert "dist_cfg: {'backend': 'gloo'}" in out
    # 40 images, 2 processes x batch 4 -> 5 iterations per epoch
    assert 'Epoch(train) [1][5/5]' in out
    assert osp.exists(tmp_path / 'epoch_1.pth')


def test_missing_data_root_names_the_path(tmp_path):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(ROOT, GD_CFG))
    missing = str(tmp_path / 'no_such_data' / 'cls')
    cfg.train_dataloader.dataset.data_root = missing
    init_default_scope('mmpretrain')
    with pytest.raises(FileNotFoundError, match=f'{missing}/meta/train.txt'):
        Runner.build_dataloader(cfg.train_dataloader)
