import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from g2sd_mm.checkpoint import CheckpointError, extract_student_state
from g2sd_mm.models.losses import FRSLoss

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_DET = osp.join(ROOT, 'tests', 'configs', 'maskrcnn_tiny_shapes.py')


def test_frs_loss_hand_value():
    # one level, B=1, C=2, A=1, 1x2 positions
    s = torch.tensor([[[[0.0, 1.0]], [[2.0, 0.0]]]])
    t = torch.tensor([[[[1.0, 1.0]], [[0.0, 0.0]]]])
    to = torch.tensor([[[[0.0, 20.0]]]])  # sigmoid -> 0.5, ~1
    so = torch.tensor([[[[0.0, 0.0]]]])
    out = FRSLoss(feat_weight=1.0, obj_weight=1.0)([s], [t], [so], [to])
    m = torch.sigmoid(torch.tensor([0.0, 20.0]))
    feat = (m[0] * ((1 - 0) ** 2 + (0 - 2) ** 2) + m[1] * 0) / m.sum()
    bce = lambda p, q: -(q * np.log(p) + (1 - q) * np.log(1 - p))  # noqa: E731
    obj = (m[0] * bce(0.5, m[0].item()) + m[1] * bce(0.5, m[1].item())) / m.sum()
    assert out['loss_frs_feat'].item() == pytest.approx(feat.item(), rel=1e-5)
    assert out['loss_frs_obj'].item() == pytest.approx(float(obj), rel=1e-5)
    weighted = FRSLoss()([s], [t], [so], [to])
    assert weighted['loss_frs_feat'].item() == pytest.approx(0.001 * feat.item(), rel=1e-5)


def test_frs_loss_zero_when_student_matches_teacher():
    t = [torch.randn(2, 4, 3, 3), torch.randn(2, 4, 2, 2)]
    to = [torch.randn(2, 3, 3, 3), torch.randn(2, 3, 2, 2)]
    out = FRSLoss()(t, t, to, to)
    assert out['loss_frs_feat'].item() == 0.0
    # BCE against soft targets is minimal (the entropy), not zero: the gradient is zero
    so = [o.clone().requires_grad_() for o in to]
    FRSLoss()(t, t, so, to)['loss_frs_obj'].backward()
    assert all(g.grad.abs().max() < 1e-6 for g in so)


def test_frs_loss_level_and_shape_mismatch():
    a = [torch.zeros(1, 4, 2, 2)]
    o = [torch.zeros(1, 3, 2, 2)]
    with pytest.raises(ValueError, match='same number of levels'):
        FRSLoss()(a + a, a, o, o)
    with pytest.raises(ValueError, match='level 0: student features'):
        FRSLoss()([torch.zeros(1, 8, 2, 2)], a, o, o)


def _det_cfg():
    init_default_scope('mmdet')
    cfg = Config.fromfile(TINY_DET)
    det = copy.deepcopy(cfg.model)
    preprocessor = det.pop('data_preprocessor')
    return det, preprocessor


def _distiller(**kw):
    det, pre = _det_cfg()
    torch.manual_seed(0)
    return MODELS.build(dict(type='DetectionDistiller', student=kw.pop('student', det),
                             teacher=kw.pop('teacher', copy.deepcopy(det)),
                             data_preprocessor=pre, **kw))


def _batch(n=2, size=64):
    samples = []
    for _ in range(n):
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size), batch_input_shape=(size, size),
                                        scale_factor=(1.0, 1.0)))
        inst = InstanceData()
        inst.bboxes = torch.tensor([[8.0, 8.0, 40.0, 48.0]])
        inst.labels = torch.tensor([1])
        mask = np.zeros((1, size, size), dtype=np.uint8)
        mask[0, 8:48, 8:40] = 1
        inst.masks = BitmapMasks(mask, size, size)
        s.gt_instances = inst
        samples.append(s)
    return torch.randn(n, 3, size, size), samples


def test_distiller_losses_teacher_frozen_and_warmup():
    model = _distiller(warmup_iters=10)
    hub = MessageHub.get_current_instance()
    x, samples = _batch()
    model.train()
    assert not model.teacher.training and model.student.training
    calls = []
    model.teacher.roi_head.register_forward_pre_hook(lambda *a: calls.append(1))
    values = {}
    for it in (0, 4, 9, 50):
        hub.update_info('iter', it)
        torch.manual_seed(1)
        losses = model.loss(x, samples)
        values[it] = losses['distill.loss_frs_feat'].item()
        assert 'loss_mask' in losses and 'distill.loss_frs_obj' in losses
    assert values[4] == pytest.approx(5 * values[0], rel=1e-4)
    assert values[9] == pytest.approx(values[50], rel=1e-4) == pytest.approx(10 * values[0],
                                                                           rel=1e-4)
    assert not calls  # the teacher never runs its ROI heads
    before = copy.deepcopy(model.teacher.state_dict())
    adapter_before = model.adapters[0].weight.detach().clone()
    opt = OptimWrapper(torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                                       lr=0.01))
    model.train_step(dict(inputs=[i for i in (x * 50 + 120)], data_samples=samples), opt)
    assert all(p.grad is None for p in model.teacher.parameters())
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(adapter_before, model.adapters[0].weight)  # adapters train
    hub.update_info('iter', 0)


def test_level_mismatch_and_teacher_checkpoint_mismatch(tmp_path):
    det, _ = _det_cfg()
    other = copy.deepcopy(det)
    other.neck.num_outs = 4
    other.rpn_head.anchor_generator.strides = [4, 8, 16, 32]
    with pytest.raises(ValueError, match='5 and 4 FPN levels'):
        _distiller(teacher=other)
    wide = copy.deepcopy(det)
    wide.neck.out_channels = 48
    wide.rpn_head.in_channels = 48
    wide.roi_head.bbox_roi_extractor.out_channels = 48
    wide.roi_head.mask_roi_extractor.out_channels = 48
    wide.roi_head.bbox_head.in_channels = 48
    wide.roi_head.mask_head.in_channels = 48
    model = _distiller(teacher=wide)
    assert model.adapters[0].out_channels == 48  # student 32 -> teacher 48
    path = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=model.student.state_dict()), path)
    with pytest.raises(CheckpointError, match='teacher.pth does not match the teacher detector '
                       'config.*shape mismatch'):
        _distiller(teacher=wide, teacher_ckpt=str(path))


def test_student_export_loads_into_plain_detector(tmp_path):
    model = _distiller()
    path = tmp_path / 'distill.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    state = extract_student_state(str(path))
    det, _ = _det_cfg()
    plain = MODELS.build(det)
    result = plain.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    teacher_ckpt = tmp_path / 'teacher_ok.pth'
    torch.save(dict(state_dict=plain.state_dict()), teacher_ckpt)
    loaded = _distiller(teacher_ckpt=str(teacher_ckpt))
    for k, v in plain.state_dict().items():
        assert torch.equal(loaded.teacher.state_dict()[k], v)
