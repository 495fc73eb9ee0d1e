"""The wheel, installed (no checkout) into a fresh environment, used from a
user's project folder: ``g2sd_mm::`` configs, ``cfg_path`` builds, training
through ``mim train`` and the two-process ``g2sd-dist-train`` entry point, a
model converter."""
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# not part of a build: local outputs and environments
_NOT_SOURCES = shutil.ignore_patterns('.git', '.venv', '.mim', 'build', 'dist', 'data',
                                      'work_dirs', 'outputs', 'tests', '*.egg-info',
                                      '__pycache__', '*.pyc', '.pytest_cache')
USER_CONFIG = """\
_base_ = ['g2sd_mm::pretrain/g2sd_vit-tiny-p8_gd_1xb32-8e_shapes.py']
model = dict(teacher_ckpt=None)
train_dataloader = dict(batch_size=4)
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
"""
CHECKS = """\
import json, os.path as osp
import g2sd_mm
from mmengine.config import Config
from mmengine.hub import get_config
from mmdet.registry import MODELS
det = get_config('g2sd_mm::det/g2sd_vits_maskrcnn.py')
seg = Config.fromfile('configs/my_upernet.py')
frcnn = MODELS.build(dict(
    type='DetectionDistiller',
    teacher=dict(cfg_path='mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'),
    student=dict(cfg_path='mmdet::faster_rcnn/faster-rcnn_r18_fpn_8xb8-amp-lsj-200e_coco.py')))
tiny = MODELS.build(dict(
    type='DetectionDistiller',
    teacher=dict(cfg_path='g2sd_mm::det/vitdet_mask-rcnn_vit-64d-mae_simple-fpn_1xb2-450it_shapes.py'),
    student=dict(cfg_path='configs/det/vitdet_mask-rcnn_vit-32d-g2sd_simple-fpn_1xb2-300it_shapes.py')))
print(json.dumps(dict(
    package=g2sd_mm.__file__, det_file=det.filename, det_model=det.model.type,
    seg_model=seg.model.type, seg_student=seg.model.student.cfg_path,
    frcnn_depths=[frcnn.teacher.backbone.depth, frcnn.student.backbone.depth],
    tiny_dims=[tiny.teacher.backbone.embed_dim, tiny.student.backbone.embed_dim])))
"""


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _run(cmd, cwd, env, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-5000:]}')
    return proc.stdout + proc.stderr


def _files(folder):
    out = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        for name in files:
            if not name.endswith('.pyc'):
                path = osp.join(root, name)
                out[osp.relpath(path, folder)] = path
    return out


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(venv python, its bin folder, environment, site-packages) with the wheel installed."""
    tmp = tmp_path_factory.mktemp('wheel')
    src = tmp / 'src'
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCES, symlinks=True)
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-index', '--no-build-isolation',
          '-q', '-w', str(tmp / 'dist'), str(src)], cwd=tmp, env=dict(os.environ))
    wheel = next((tmp / 'dist').glob('g2sd_mm-*.whl'))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert 'g2sd_mm/.mim/configs/det/g2sd_vits_maskrcnn.py' in names
    assert 'g2sd_mm/.mim/tools/train.py' in names and 'g2sd_mm/.mim/model-index.yml' in names

    venv = tmp / 'venv'
    # keep PYTHONPATH entries (extra tools) except checkouts of g2sd_mm (with
    # their egg-info, pip would take them for an installed g2sd_mm)
    paths = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep)
             if p and not osp.exists(osp.join(p, 'g2sd_mm', '__init__.py'))]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), PYTHONWARNINGS='ignore',
               OMP_NUM_THREADS='1', PATH=f'{venv / "bin"}{os.pathsep}{os.environ["PATH"]}')
    _run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], cwd=tmp, env=dict(os.environ))
    python = str(venv / 'bin' / 'python')
    site = _run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                cwd=tmp, env=dict(os.environ)).strip()
    # installed before the stack is visible, so pip cannot take the project's
    # g2sd_mm for an installed copy
    _run([sys.executable, '-m', 'pip', '--python', python, 'install', '-q', '--no-deps',
          '--no-index', '--ignore-installed', str(wheel)], cwd=tmp, env=env)
    assert osp.isfile(osp.join(site, 'g2sd_mm', '.mim', 'tools', 'train.py'))
    # the project's installed stack, without its (editable) g2sd_mm: a path
    # line does not run that folder's .pth files, so the editable finder stays off
    stack = {sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']}
    with open(osp.join(site, 'project_stack.pth'), 'w') as f:
        f.write('\n'.join(sorted(stack)) + '\n')
    return python, str(venv / 'bin'), env, site


@pytest.fixture(scope='module')
def project(tmp_path_factory, installed):
    """A user's project folder with two configs and the shapes data, made by the installed tools."""
    python, bin_dir, env, _ = installed
    project = tmp_path_factory.mktemp('my_project')
    (project / 'configs').mkdir()
    (project / 'configs' / 'my_gd.py').write_text(USER_CONFIG)
    (project / 'configs' / 'my_upernet.py').write_text(
        "_base_ = ['g2sd_mm::seg/g2sd_vits_upernet.py']\n"
        'model = dict(student=dict(cfg_path='
        "'g2sd_mm::seg/upernet_vit-t-g2sd_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py'))\n")
    # data/shapes relative to the project, where the configs' data_root points
    from g2sd_mm.demo import generate_shapes
    generate_shapes(str(project / 'data' / 'shapes'), tasks=('cls',), num_cls_train=8,
                    num_cls_val=2)
    return project


@pytest.mark.slow
def test_installed_configs_and_tools_are_the_repository_files(installed):
    site = installed[3]
    for name in ('configs', 'tools'):
        repo = _files(osp.join(ROOT, name))
        shipped = _files(osp.join(site, 'g2sd_mm', '.mim', name))
        assert sorted(shipped) == sorted(repo), name
        for rel, path in repo.items():
            with open(path, 'rb') as a, open(shipped[rel], 'rb') as b:
                assert a.read() == b.read(), f'{name}/{rel} differs'


@pytest.mark.slow
def test_configs_load_and_cfg_paths_build_outside_the_checkout(installed, project):
    python, _, env, site = installed
    out = json.loads(_run([python, '-c', CHECKS], cwd=project, env=env).strip().splitlines()[-1])
    assert out['package'] == osp.join(site, 'g2sd_mm', '__init__.py')  # the wheel, not a checkout
    assert out['det_file'] == osp.join(site, 'g2sd_mm', '.mim', 'configs', 'det',
                                       'g2sd_vits_maskrcnn.py')
    assert out['det_model'] == 'DetectionDistiller' and out['seg_model'] == 'SegmentationDistiller'
    assert out['seg_student'].startswith('g2sd_mm::seg/upernet_vit-t-g2sd')
    assert out['frcnn_depths'] == [50, 18] and out['tiny_dims'] == [64, 32]


@pytest.mark.slow
def test_train_through_mim_and_the_two_process_entry_point_then_convert(installed, project):
    python, bin_dir, env, _ = installed
    # the default work dir is relative to the working directory
    log = _run([python, '-m', 'mim', 'train', 'g2sd_mm', 'configs/my_gd.py'],
               cwd=project, env=env)
    assert osp.join('g2sd_mm', '.mim', 'tools', 'train.py') in log
    assert 'Epoch(train) [1][2/2]' in log
    assert (project / 'work_dirs' / 'my_gd' / 'epoch_1.pth').exists()

    # 2 processes x batch 4 over 8 images: one iteration per epoch
    _run([osp.join(bin_dir, 'g2sd-dist-train'), 'configs/my_gd.py', '2',
          '--work-dir', 'work_dirs/dist_gd', '--cfg-options', 'train_cfg.max_epochs=2'],
         cwd=project, env=dict(env, PORT=_free_port()))
    ckpt = project / 'work_dirs' / 'dist_gd' / 'epoch_2.pth'
    assert ckpt.exists()

    log = _run([osp.join(bin_dir, 'g2sd-tool'), 'g2sd_gd_export', str(ckpt), 'export/vit-32d'],
               cwd=project, env=env)
    assert sorted(os.listdir(project / 'export')) == ['vit-32d_backbone.pth', 'vit-32d_timm.pth']
