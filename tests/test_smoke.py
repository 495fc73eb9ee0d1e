"""Smoke tests of the installed OpenMMLab stack: imports, compiled mmcv ops
on CPU, and a few real training iterations of stock mmdet / mmseg models on
the procedural shapes data."""
import copy
import importlib
import math
import os.path as osp

import pytest
import torch

CONFIG_DIR = osp.join(osp.dirname(__file__), 'configs')


@pytest.mark.parametrize('name', [
    'mmcv', 'mmcv.ops', 'mmengine', 'mmpretrain', 'mmdet', 'mmseg', 'timm',
    'g2sd_mm'
])
def test_import(name):
    module = importlib.import_module(name)
    assert module is not None


def test_mmcv_has_compiled_ops():
    from mmcv.utils import ext_loader
    ext = ext_loader.load_ext('_ext', ['nms', 'roi_align_forward'])
    assert hasattr(ext, 'nms')


def test_nms_on_cpu():
    from mmcv.ops import nms
    boxes = torch.tensor([
        [0., 0., 10., 10.],
        [1., 1., 11., 11.],  # IoU with the first: 81 / 119 = 0.68
        [50., 50., 60., 60.],  # far away
        [0., 0., 10., 5.],  # IoU with the first: 0.5, not above 0.6
    ])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    dets, keep = nms(boxes, scores, iou_threshold=0.6)
    assert keep.tolist() == [0, 2, 3]
    assert dets.shape == (3, 5)
    torch.testing.assert_close(dets[:, :4], boxes[[0, 2, 3]])
    torch.testing.assert_close(dets[:, 4], scores[[0, 2, 3]])

    _, keep = nms(boxes, scores, iou_threshold=0.4)
    assert keep.tolist() == [0, 2]


def test_roi_align_on_cpu():
    from mmcv.ops import RoIAlign

    # a constant feature map pools to the constant
    feats = torch.full((1, 2, 8, 8), 3.0)
    rois = torch.tensor([[0., 1., 1., 5., 5.], [0., 2.5, 0.5, 7., 3.]])
    out = RoIAlign(output_size=2, spatial_scale=1.0, sampling_ratio=2)(feats,
                                                                       rois)
    assert out.shape == (2, 2, 2, 2)
    torch.testing.assert_close(out, torch.full_like(out, 3.0))

    # a ramp f(y, x) = x: with aligned=True and one sample per bin, the bins
    # of the box [0, 4] are sampled at x = 1 and 3 (pixel centres at
    # index + 0.5), i.e. at ramp values 0.5 and 2.5
    ramp = torch.arange(8.).expand(1, 1, 8, 8).contiguous()
    box = torch.tensor([[0., 0., 0., 4., 4.]])
    out = RoIAlign(
        output_size=2, spatial_scale=1.0, sampling_ratio=1,
        aligned=True)(ramp, box)
    torch.testing.assert_close(out[0, 0],
                               torch.tensor([[0.5, 2.5], [0.5, 2.5]]))

    # spatial_scale maps image coordinates onto a stride-2 feature map
    out = RoIAlign(
        output_size=2, spatial_scale=0.5, sampling_ratio=1,
        aligned=True)(ramp, box * torch.tensor([1., 2., 2., 2., 2.]))
    torch.testing.assert_close(out[0, 0],
                               torch.tensor([[0.5, 2.5], [0.5, 2.5]]))


# ---------------------------------------------------------------------------
# a few training iterations through the real mmengine Runner
# ---------------------------------------------------------------------------


def load_smoke_config(name, data_root, work_dir, iters=2):
    """Load ``tests/configs/<name>`` and point it at ``data_root``."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    data_root = data_root.rstrip('/') + '/'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
    for key in ('val_evaluator', 'test_evaluator'):
        if cfg[key].get('ann_file'):
            cfg[key].ann_file = data_root + osp.relpath(
                cfg[key].ann_file, cfg.data_root)
    cfg.data_root = data_root
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = 1
    # a fresh visualizer per run (the named one is a process-wide singleton)
    cfg.visualizer.pop('name', None)
    return cfg


def run_training(cfg):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.train()
    hub = runner.message_hub
    losses = hub.get_scalar('train/loss')
    assert runner.iter == cfg.train_cfg.max_iters
    assert len(losses.data[0]) == cfg.train_cfg.max_iters
    assert all(math.isfinite(v) for v in losses.data[0])
    assert osp.isfile(
        osp.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth'))
    return runner


def test_maskrcnn_tiny_trains_on_shapes(shapes_root, tmp_path):
    cfg = load_smoke_config('maskrcnn_tiny_shapes.py',
                            osp.join(shapes_root, 'coco'), tmp_path)
    assert cfg.val_evaluator.ann_file == osp.join(
        shapes_root, 'coco', 'annotations', 'instances_val.json')
    runner = run_training(cfg)
    hub = runner.message_hub
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox',
                'loss_mask'):
        assert math.isfinite(hub.get_scalar(f'train/{key}').current()), key
    # validation ran through CocoMetric with both metrics
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert 0 <= hub.get_scalar(f'val/{key}').current() <= 1, key


def test_upernet_tiny_trains_on_shapes(shapes_root, tmp_path):
    cfg = load_smoke_config('upernet_tiny_shapes.py',
                            osp.join(shapes_root, 'seg'), tmp_path)
    runner = run_training(cfg)
    hub = runner.message_hub
    for key in ('decode.loss_ce', 'aux.loss_ce'):
        assert math.isfinite(hub.get_scalar(f'train/{key}').current()), key
    assert 0 <= hub.get_scalar('val/mIoU').current() <= 100
