import copy
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from g2sd_mm.checkpoint import CheckpointError, extract_student_state
from g2sd_mm.models.losses import ChannelWiseDivergence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_SEG = osp.join(ROOT, 'tests', 'configs', 'upernet_tiny_shapes.py')


# ------------------------------------------------------------------ loss
def test_cwd_hand_value():
    # N=1, C=2, H=1, W=3
    s = torch.tensor([[[[0.0, 1.0, 2.0]], [[1.0, 1.0, 1.0]]]])
    t = torch.tensor([[[[2.0, 1.0, 0.0]], [[0.0, 0.0, 3.0]]]])

    def softmax(v):
        e = [math.exp(x) for x in v]
        return [x / sum(e) for x in e]

    kl = 0.0
    for c in range(2):
        p, q = softmax(t[0, c, 0].tolist()), softmax(s[0, c, 0].tolist())
        kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    expected = kl / (1 * 2)
    loss = ChannelWiseDivergence(tau=1.0, loss_weight=1.0)(s, t)
    assert loss.dim() == 0 and loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert ChannelWiseDivergence()(s, t).item() == pytest.approx(3.0 * expected, rel=1e-6)


def test_cwd_zero_when_student_equals_teacher():
    x = torch.randn(2, 5, 4, 6)
    assert ChannelWiseDivergence()(x, x.clone()).abs().item() < 1e-6
    # a per-channel constant shift does not change the spatial distributions
    assert ChannelWiseDivergence()(x + 3.0, x).abs().item() < 1e-5


def test_cwd_tau_scaling():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    for tau in (0.5, 2.0, 4.0):
        loss = ChannelWiseDivergence(tau=tau, loss_weight=1.0)(s, t)
        # tau^2 * KL at temperature tau == tau^2 * KL of the logits divided by tau
        ref = tau ** 2 * ChannelWiseDivergence(tau=1.0, loss_weight=1.0)(s / tau, t / tau)
        assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    with pytest.raises(ValueError, match='tau must be positive'):
        ChannelWiseDivergence(tau=0)


def test_cwd_gradient_only_to_student_and_fp32_under_autocast():
    s = torch.randn(1, 3, 4, 4, requires_grad=True)
    t = torch.randn(1, 3, 4, 4, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = ChannelWiseDivergence()(s.bfloat16(), t.bfloat16())
    assert loss.dtype == torch.float32
    loss.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0 and t.grad is None


def test_cwd_class_count_mismatch():
    with pytest.raises(ValueError, match='student logits have 4 channels, teacher logits 5'):
        ChannelWiseDivergence()(torch.zeros(1, 4, 2, 2), torch.zeros(1, 5, 2, 2))


def test_cwd_resize():
    torch.manual_seed(0)
    t = torch.randn(2, 3, 8, 8)
    s_small = torch.randn(2, 3, 4, 4)
    loss = ChannelWiseDivergence(loss_weight=1.0)(s_small, t)
    up = torch.nn.functional.interpolate(s_small, size=(8, 8), mode='bilinear',
                                         align_corners=False)
    ref = ChannelWiseDivergence(loss_weight=1.0)(up, t)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    with pytest.raises(ValueError, match=r'\(2, 3, 4, 4\).*\(2, 3, 8, 8\).*resize=False'):
        ChannelWiseDivergence(resize=False)(s_small, t)


# ------------------------------------------------------------ distiller
def _seg_cfg():
    init_default_scope('mmseg')
    model = copy.deepcopy(Config.fromfile(TINY_SEG).model)
    preprocessor = model.pop('data_preprocessor')
    return model, preprocessor


def _distiller(**kw):
    seg, pre = _seg_cfg()
    torch.manual_seed(0)
    return MODELS.build(dict(type='SegmentationDistiller', student=kw.pop('student', seg),
                             teacher=kw.pop('teacher', copy.deepcopy(seg)),
                             data_preprocessor=pre, **kw))


def _batch(n=2, size=64):
    samples = []
    for i in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size)))
        label = torch.zeros(1, size, size, dtype=torch.long)
        label[:, 8:40, 10 + i:30 + i] = 1 + i
        s.gt_sem_seg = PixelData(data=label)
        samples.append(s)
    return torch.randn(n, 3, size, size), samples


def test_distiller_losses_teacher_frozen_and_aux_head_not_run():
    model = _distiller(distill_loss=dict(type='ChannelWiseDivergence', tau=1.0, loss_weight=3.0))
    x, samples = _batch()
    model.train()
    assert not model.teacher.training and model.student.training
    aux_calls, conv_calls = [], []
    model.teacher.auxiliary_head.register_forward_pre_hook(lambda *a: aux_calls.append(1))
    model.teacher.auxiliary_head.conv_seg.register_forward_pre_hook(
        lambda *a: aux_calls.append(1))
    model.teacher.decode_head.conv_seg.register_forward_pre_hook(
        lambda *a: conv_calls.append(1))
    losses = model.loss(x, samples)
    assert {'decode.loss_ce', 'aux.loss_ce', 'distill.loss_cwd'} <= set(losses)
    assert losses['distill.loss_cwd'].isfinite() and losses['distill.loss_cwd'] > 0
    assert not aux_calls and len(conv_calls) == 1  # teacher: decode head only

    before = copy.deepcopy(model.teacher.state_dict())
    student_before = model.student.decode_head.conv_seg.weight.detach().clone()
    opt = OptimWrapper(torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                                       lr=0.01))
    log_vars = model.train_step(dict(inputs=[i for i in (x * 50 + 120)],
                                     data_samples=samples), opt)
    assert 'distill.loss_cwd' in log_vars
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, before[k]), k  # BN running stats too (eval mode)
    assert not torch.equal(student_before, model.student.decode_head.conv_seg.weight)
    assert not model.teacher.training


def test_distill_loss_matches_the_teacher_and_student_logits():
    model = _distiller(distill_loss=dict(type='ChannelWiseDivergence', loss_weight=1.0))
    model.eval()  # no dropout: recorded student logits are reproducible
    x, samples = _batch()
    losses = model.loss(x, samples)
    with torch.no_grad():
        s = model.student.decode_head.forward(model.student.extract_feat(x))
        t = model.teacher.decode_head.forward(model.teacher.extract_feat(x))
    assert s.shape == (2, 5, 16, 16)  # 1/4 of the input
    ref = ChannelWiseDivergence(loss_weight=1.0)(s, t)
    assert losses['distill.loss_cwd'].item() == pytest.approx(ref.item(), rel=1e-5)
    # same weights in teacher and student -> zero distillation loss
    model.teacher.load_state_dict(model.student.state_dict())
    assert model.loss(x, samples)['distill.loss_cwd'].abs().item() < 1e-6


def test_warmup():
    model = _distiller(warmup_iters=10)
    model.eval()
    x, samples = _batch()
    hub = MessageHub.get_current_instance()
    values = {}
    try:
        for it in (0, 4, 50):
            hub.update_info('iter', it)
            values[it] = model.loss(x, samples)['distill.loss_cwd'].item()
    finally:
        hub.update_info('iter', 0)
    assert values[4] == pytest.approx(5 * values[0], rel=1e-4)
    assert values[50] == pytest.approx(10 * values[0], rel=1e-4)


def test_predict_runs_the_student_only_with_the_shared_preprocessor():
    seg, pre = _seg_cfg()
    torch.manual_seed(0)
    model = MODELS.build(dict(type='SegmentationDistiller',
                              student=dict(seg, data_preprocessor=pre),
                              teacher=copy.deepcopy(seg)))
    assert model.data_preprocessor is model.student.data_preprocessor
    assert type(model.data_preprocessor).__name__ == 'SegDataPreProcessor'
    calls = []
    model.teacher.register_forward_pre_hook(lambda *a: calls.append(1))
    model.teacher.backbone.register_forward_pre_hook(lambda *a: calls.append(1))
    x, samples = _batch()
    data = dict(inputs=[i for i in (x * 50 + 120)], data_samples=samples)
    out = model.val_step(data)
    assert len(out) == 2 and out[0].pred_sem_seg.data.shape == (1, 64, 64)
    assert not calls


def test_class_count_and_teacher_checkpoint_mismatch(tmp_path):
    seg, _ = _seg_cfg()
    other = copy.deepcopy(seg)
    other.decode_head.num_classes = 7
    with pytest.raises(ValueError, match='5 and 7 classes'):
        _distiller(teacher=other)
    wide = copy.deepcopy(seg)
    wide.decode_head.channels = 48
    model = _distiller(teacher=wide)
    path = tmp_path / 'seg_teacher.pth'
    torch.save(dict(state_dict=model.student.state_dict()), path)
    with pytest.raises(CheckpointError, match='seg_teacher.pth does not match the teacher '
                       'segmentor config.*shape mismatch'):
        _distiller(teacher=wide, teacher_ckpt=str(path))
    bare = tmp_path / 'backbone_only.pth'
    torch.save(dict(state_dict={k: v for k, v in model.student.state_dict().items()
                                if k.startswith('backbone.')}), bare)
    with pytest.raises(CheckpointError, match=r'backbone_only\.pth.*missing key'):
        _distiller(teacher_ckpt=str(bare))


def test_student_export_loads_into_plain_segmentor(tmp_path):
    model = _distiller()
    path = tmp_path / 'distill.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    assert not any(k.startswith('teacher.') for k in model.state_dict())
    state = extract_student_state(str(path))
    seg, pre = _seg_cfg()
    plain = MODELS.build(dict(seg, data_preprocessor=pre))
    result = plain.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    teacher_ckpt = tmp_path / 'teacher_ok.pth'
    torch.save(dict(state_dict=plain.state_dict()), teacher_ckpt)
    loaded = _distiller(teacher_ckpt=str(teacher_ckpt))
    for k, v in plain.state_dict().items():
        assert torch.equal(loaded.teacher.state_dict()[k], v)


def test_layer_decay_reaches_the_student_backbone():
    seg, pre = _seg_cfg()
    vit = dict(type='ViTRelPos', arch=dict(embed_dim=32, depth=4, num_heads=2), img_size=64,
               patch_size=16, out_indices=(0, 1, 2, 3), drop_path_rate=0.0)
    seg.backbone = vit
    seg.neck = dict(type='Feature2Pyramid', embed_dim=32, rescales=[4, 2, 1, 0.5],
                    norm_cfg=dict(type='BN', requires_grad=True))
    seg.decode_head.in_channels = [32] * 4
    seg.auxiliary_head.in_channels = 32
    model = _distiller(student=seg, teacher=copy.deepcopy(seg))
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        constructor='LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(num_layers=4, layer_decay_rate=0.65)))
    lr_of, wd_of = {}, {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lr_of[id(p)] = group['lr']
            wd_of[id(p)] = group['weight_decay']
    named = dict(model.named_parameters())
    lr = lambda name: lr_of[id(named[name])]  # noqa: E731
    first = lr('student.backbone.blocks.0.attn.qkv.weight')
    last = lr('student.backbone.blocks.3.attn.qkv.weight')
    head = lr('student.decode_head.conv_seg.weight')
    assert last / first == pytest.approx(0.65 ** -3)
    assert head / first == pytest.approx(0.65 ** -4) and head == pytest.approx(1e-4)
    assert lr('student.backbone.pos_embed') == pytest.approx(first * 0.65)
    table = 'student.backbone.blocks.2.rel_pos.relative_position_bias_table'
    assert wd_of[id(named[table])] == 0.0 and wd_of[id(named[
        'student.backbone.blocks.2.ls1.gamma'])] == 0.0
    assert all(id(p) not in lr_of for p in model.teacher.parameters())


@pytest.mark.parametrize('name', ['g2sd_vit-32d_upernet_1xb4-400it_shapes.py',
                                  'g2sd_vits_upernet.py'])
def test_distiller_configs_use_the_student_preprocessor(name):
    """No top-level ``data_preprocessor`` in the segmentation configs: the runner
    would inject it into the distiller (e.g. the 512 crop size into the
    128-px demo), instead of the student's own."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'seg', name))
    assert cfg.get('data_preprocessor') is None and 'data_preprocessor' not in cfg.model
    student = Config.fromfile(osp.join(ROOT, cfg.model.student.cfg_path)).model
    if 'shapes' in name:
        init_default_scope('mmseg')
        cfg.model.teacher_ckpt = None
        cfg.model.student.backbone = dict(init_cfg=None)
        model = MODELS.build(cfg.model)
        assert model.data_preprocessor is model.student.data_preprocessor
        assert tuple(model.data_preprocessor.size) == tuple(student.data_preprocessor.size) \
            == (128, 128)
