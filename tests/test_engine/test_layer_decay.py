"""Layer-wise lr decay on a ViTDet backbone, plain and inside a distiller.

Layer ids: patch_embed / pos_embed -> 0, blocks.i -> i + 1, the rest -> L + 1,
with lr_scale(id) = rate ** (L + 1 - id). Hence, for L = 12:
    lr(blocks.0) / lr(blocks.11)  = rate ** 11 = rate ** (L - 1)
    lr(patch_embed) / lr(head)    = rate ** 13 = rate ** (L + 1)
    lr(blocks.11) = base_lr * rate, lr(head) = base_lr.
"""
import math

import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from g2sd_mm.engine import LayerDecayOptimWrapperConstructor, get_layer_id
from g2sd_mm.models import ViTDet

L, RATE, LR, WD = 12, 0.7, 1e-3, 0.05


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = ViTDet(dict(embed_dim=16, depth=L, num_heads=2), img_size=32,
                               pretrain_img_size=32, window_size=2, drop_path_rate=0.0)
        self.neck = nn.Sequential(nn.Conv2d(16, 8, 1), nn.GroupNorm(1, 8))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.neck(self.backbone(x)[0]).mean((2, 3)))


class Distiller(nn.Module):
    def __init__(self):
        super().__init__()
        self.student = Detector()
        self.teacher = Detector()
        self.teacher.requires_grad_(False)
        self.adapter = nn.Conv2d(8, 8, 3, padding=1)


def _optim(model, **paramwise):
    cfg = dict(optimizer=dict(type='AdamW', lr=LR, weight_decay=WD),
               constructor='LayerDecayOptimWrapperConstructor',
               paramwise_cfg=dict(num_layers=L, layer_decay_rate=RATE, **paramwise))
    return build_optim_wrapper(model, cfg)


def _settings(optim_wrapper, strip=''):
    out = {}
    for group in optim_wrapper.optimizer.param_groups:
        for name in group['param_names']:
            out[name[len(strip):] if name.startswith(strip) else name] = (
                group['lr'], group['weight_decay'])
    return out


@pytest.mark.parametrize('wrapped', [False, True])
def test_layer_decay_plain_and_wrapped(wrapped):
    torch.manual_seed(0)
    model = Distiller() if wrapped else Detector()
    optim_wrapper = _optim(model)
    p = 'student.' if wrapped else ''
    s = _settings(optim_wrapper)
    lr = {k: v[0] for k, v in s.items()}
    wd = {k: v[1] for k, v in s.items()}

    assert math.isclose(lr[f'{p}backbone.blocks.0.attn.qkv.weight']
                        / lr[f'{p}backbone.blocks.11.attn.qkv.weight'], RATE ** (L - 1))
    assert math.isclose(lr[f'{p}backbone.patch_embed.proj.weight'] / lr[f'{p}head.weight'],
                        RATE ** (L + 1))
    assert math.isclose(lr[f'{p}backbone.blocks.11.mlp.fc2.weight'], LR * RATE)
    assert math.isclose(lr[f'{p}backbone.pos_embed'], LR * RATE ** (L + 1))
    assert math.isclose(lr[f'{p}backbone.blocks.5.attn.rel_pos_h'], LR * RATE ** (L - 5))
    assert lr[f'{p}head.weight'] == LR and lr[f'{p}neck.0.weight'] == LR

    no_decay = ['backbone.pos_embed', 'backbone.blocks.2.attn.rel_pos_w',
                'backbone.blocks.0.norm1.weight', 'backbone.blocks.0.attn.qkv.bias',
                'backbone.patch_embed.proj.bias', 'neck.1.weight', 'head.bias']
    assert all(wd[p + n] == 0.0 for n in no_decay)
    assert all(wd[p + n] == WD for n in ['backbone.blocks.0.attn.qkv.weight',
                                         'backbone.patch_embed.proj.weight', 'head.weight'])

    grouped = [q for g in optim_wrapper.optimizer.param_groups for q in g['params']]
    assert len(grouped) == len({id(q) for q in grouped})
    trainable = [q for q in model.parameters() if q.requires_grad]
    assert {id(q) for q in grouped} == {id(q) for q in trainable}
    if wrapped:
        teacher_ids = {id(q) for q in model.teacher.parameters()}
        assert not teacher_ids & {id(q) for q in grouped}
        assert not any(n.startswith('teacher.') for n in s)
        assert lr['adapter.weight'] == LR
        # same settings as the unwrapped detector, name for name
        plain = _settings(_optim(Detector()))
        assert {k: v for k, v in _settings(optim_wrapper, 'student.').items()
                if k in plain} == plain
    for g in optim_wrapper.optimizer.param_groups:
        assert math.isclose(g['lr'], LR * g['lr_scale'])


def test_training_step_leaves_teacher_alone():
    torch.manual_seed(0)
    model = Distiller()
    optim_wrapper = _optim(model)
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    head_before = model.student.head.weight.clone()
    loss = model.student(torch.randn(2, 3, 32, 32)).square().mean()
    optim_wrapper.update_params(loss)
    assert all(torch.equal(before[k], v) for k, v in model.teacher.state_dict().items())
    assert not torch.equal(head_before, model.student.head.weight)


def test_get_layer_id():
    assert get_layer_id('backbone.patch_embed.proj.weight', L) == 0
    assert get_layer_id('student.backbone.pos_embed', L) == 0
    assert get_layer_id('student.backbone.blocks.3.attn.qkv.weight', L) == 4
    assert get_layer_id('backbone.layers.11.ln1.weight', L) == 12  # mmpretrain/mmseg names
    assert get_layer_id('backbone.ln1.weight', L) == L + 1
    assert get_layer_id('neck.fpn1.0.weight', L) == L + 1
    assert get_layer_id('mybackbone.blocks.0.attn.qkv.weight', L) == L + 1  # name boundary
    assert get_layer_id('student.vit.blocks.0.norm1.weight', L, ('vit.',)) == 1
    with pytest.raises(ValueError, match='num_layers'):
        get_layer_id('backbone.blocks.12.norm1.weight', L)


def test_registered_for_every_scope():
    model = Detector()
    for scope in ('mmdet', 'mmseg', 'mmpretrain'):
        with DefaultScope.overwrite_default_scope(scope):
            assert isinstance(_optim(model).optimizer, torch.optim.AdamW)
    from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as DET
    from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS as SEG
    for registry in (DET, SEG):
        assert registry.get('LayerDecayOptimWrapperConstructor') is \
            LayerDecayOptimWrapperConstructor


def test_bad_paramwise_cfg():
    with pytest.raises(ValueError, match='unsupported paramwise_cfg'):
        _optim(Detector(), custom_keys={})
    with pytest.raises(ValueError, match='decay_type'):
        _optim(Detector(), decay_type='stage_wise')
    with pytest.raises(ValueError, match='num_layers'):
        build_optim_wrapper(Detector(), dict(
            optimizer=dict(type='AdamW', lr=LR), constructor='LayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=RATE)))
