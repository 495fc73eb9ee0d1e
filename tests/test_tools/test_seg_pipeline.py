"""Stage 2 semantic segmentation end to end on the shapes data through the real
tools: teacher segmentor -> CWD distillation (train + mIoU) -> student
extraction -> tools/test.py with the student-only config; 2-process CPU run;
mmseg's own train tool with our components; the full-size ADE20K distiller."""
import glob
import json
import os.path as osp
import sys

import mmseg
import pytest
import torch
from mmengine.config import Config

from tool_runner import ROOT
from tool_runner import run as _run

TEACHER_CFG = 'configs/seg/upernet_vit-64d-mae_feature2pyramid_1xb4-600it_shapes.py'
STUDENT_CFG = 'configs/seg/upernet_vit-32d-g2sd_feature2pyramid_1xb4-400it_shapes.py'
G2SD_CFG = 'configs/seg/g2sd_vit-32d_upernet_1xb4-400it_shapes.py'

pytestmark = pytest.mark.slow


def run(args, timeout=900, env=None):
    return _run(args, timeout, env, single_thread=True)


def data_opts(shapes_root):
    return [f'{k}.dataset.data_root={shapes_root}/seg/' for k in
            ('train_dataloader', 'val_dataloader', 'test_dataloader')]


@pytest.fixture(scope='module')
def seg_teacher(tmp_path_factory, shapes_root):
    work = tmp_path_factory.mktemp('seg_teacher')
    run([sys.executable, 'tools/train.py', TEACHER_CFG, '--work-dir', str(work), '--cfg-options',
         *data_opts(shapes_root), 'model.backbone.init_cfg=None', 'train_cfg.max_iters=4',
         'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=4'])
    return str(work / 'iter_4.pth')


@pytest.fixture(scope='module')
def g2sd_run(tmp_path_factory, shapes_root, seg_teacher):
    work = tmp_path_factory.mktemp('seg_g2sd')
    log = run([sys.executable, 'tools/train.py', G2SD_CFG, '--work-dir', str(work),
               '--cfg-options', *data_opts(shapes_root), f'model.teacher_ckpt={seg_teacher}',
               'model.student.backbone.init_cfg=None', 'train_cfg.max_iters=4',
               'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=4',
               'default_hooks.logger.interval=1'])
    return str(work), log


def test_distillation_trains_and_evaluates_miou(g2sd_run):
    work, log = g2sd_run
    assert 'distill.loss_cwd' in log and 'decode.loss_ce' in log and 'aux.loss_ce' in log
    assert 'mIoU' in log  # the student is evaluated
    state = torch.load(osp.join(work, 'iter_4.pth'), map_location='cpu',
                       weights_only=True)['state_dict']
    assert not any(k.startswith('teacher.') for k in state)
    assert any(k.startswith('student.backbone.blocks.') for k in state)


def test_student_extraction_tests_with_the_baseline_config(g2sd_run, tmp_path, shapes_root):
    work, _ = g2sd_run
    out = tmp_path / 'student.pth'
    run([sys.executable, 'tools/model_converters/extract_student.py',
         osp.join(work, 'iter_4.pth'), str(out)])
    metrics_file = tmp_path / 'metrics.json'
    log = run([sys.executable, 'tools/test.py', STUDENT_CFG, str(out), '--work-dir',
               str(tmp_path / 'test'), '--out-metrics', str(metrics_file), '--cfg-options',
               *data_opts(shapes_root), 'model.backbone.init_cfg=None'])
    assert 'missing keys' not in log.lower() and 'unexpected key' not in log.lower()
    metrics = json.loads(metrics_file.read_text())
    assert 0.0 <= metrics['mIoU'] <= 100.0


def test_dist_train_two_cpu_processes(tmp_path, shapes_root, seg_teacher):
    log = run(['bash', 'tools/dist_train.sh', G2SD_CFG, '2', '--work-dir', str(tmp_path),
               '--cfg-options', *data_opts(shapes_root), f'model.teacher_ckpt={seg_teacher}',
               'model.student.backbone.init_cfg=None', 'train_cfg.max_iters=2',
               'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2',
               'train_dataloader.batch_size=2'],
              env=dict(PORT='29533', PYTHON=sys.executable))
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert osp.exists(tmp_path / 'iter_2.pth')


def test_mmseg_own_train_tool_runs_our_components(tmp_path, shapes_root):
    tool = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    run([sys.executable, tool, STUDENT_CFG, '--work-dir', str(tmp_path), '--cfg-options',
         *data_opts(shapes_root), 'model.backbone.init_cfg=None', 'train_cfg.max_iters=2',
         'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2'],
        env=dict(PYTHONPATH=ROOT))
    assert glob.glob(str(tmp_path / 'iter_2.pth'))


def _seg_samples(n, size):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size)))
        label = torch.full((1, size, size), 255, dtype=torch.long)
        label[:, 100:300, 120:400] = 7
        label[:, 300:, :] = 0
        s.gt_sem_seg = PixelData(data=label)
        samples.append(s)
    return samples


def test_full_size_segmentation_distiller_builds_decays_and_runs_512px():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'seg', 'g2sd_vits_upernet.py'))
    assert cfg.train_dataloader.batch_size * 8 == 16 and cfg.train_cfg.max_iters == 160000
    assert cfg.model.distill_loss.tau == 1.0 and cfg.model.distill_loss.loss_weight == 3.0
    warmup, poly = cfg.param_scheduler
    # poly decay counts from iteration 0 under a 1,500-iteration warm-up factor (mmseg 0.x);
    # the ends are one step later so the last step's lr matches (test_recipes.py)
    assert warmup.begin == poly.begin == 0 and poly.type == 'PolyLR'
    assert warmup.end == 1501 and poly.end == 160001
    assert cfg.optim_wrapper.type == 'AnyDeviceAmpOptimWrapper'
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.65
    assert cfg.test_dataloader.dataset.type == 'ADE20KDataset'
    load = cfg.train_dataloader.dataset.pipeline[1]
    assert load.type == 'CheckedLoadSegAnnotations' and load.reduce_zero_label
    init_default_scope('mmseg')
    cfg.model.teacher_ckpt = None
    cfg.model.teacher_autocast = None  # bf16 is slow on CPUs without bf16 units
    cfg.model.student.backbone = dict(init_cfg=None)
    model = MODELS.build(cfg.model)
    student = Config.fromfile(osp.join(ROOT, cfg.model.student.cfg_path)).model
    assert student.test_cfg.mode == 'slide' and student.test_cfg.stride == (341, 341)
    count = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
    n_student, n_teacher = count(model.student), count(model.teacher)
    print(f'\nViT-S UperNet student {n_student:.2f}M (backbone '
          f'{count(model.student.backbone):.2f}M), ViT-B UperNet teacher {n_teacher:.2f}M')
    assert n_student == pytest.approx(42.0, abs=0.5)
    assert n_teacher == pytest.approx(163.9, abs=0.5)
    assert count(model.student.backbone) == pytest.approx(22.3, abs=0.2)
    assert model.student.backbone.blocks[11].drop_path1.drop_prob == pytest.approx(0.1)
    assert model.student.decode_head.channels == 384

    # layer-wise lr decay 0.65 reaches the student's backbone inside the distiller
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr_of = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lr_of[id(p)] = group['lr']
    named = dict(model.named_parameters())
    lr = lambda name: lr_of[id(named[name])]  # noqa: E731
    first = lr('student.backbone.blocks.0.attn.qkv.weight')
    last = lr('student.backbone.blocks.11.attn.qkv.weight')
    head = lr('student.decode_head.conv_seg.weight')
    assert last / first == pytest.approx(0.65 ** -11)
    assert head == pytest.approx(1e-4) and head / first == pytest.approx(0.65 ** -12)
    assert all(id(p) not in lr_of for p in model.teacher.parameters())

    # one 512-px image (single-image batch: norms use their running statistics,
    # as the 1x1 pooled map of the pyramid pooling has one value per channel)
    model.train()
    for m in model.student.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    losses = model.loss(torch.randn(1, 3, 512, 512), _seg_samples(1, 512))
    assert {'decode.loss_ce', 'aux.loss_ce', 'distill.loss_cwd'} <= set(losses)
    assert all(v.isfinite().all() for v in losses.values())
