"""mmseg 1.x MAE UperNet checkpoints (model zoo layout) -> g2sd_mm's ViT-B UperNet."""
import runpy
import sys

import pytest
import torch
from seg_models import (CLASSES, OUR_CFG, STOCK_CFG, build, build_ours, build_stock,
                        seed_weights, write_tiny_config)

from g2sd_mm.checkpoint.layouts.mmseg import (g2sd_to_mmseg_mae, is_mmseg_mae_layout,
                                              mmseg_mae_to_g2sd)
from g2sd_mm.checkpoint.segmentor_target import check_segmentor_state
from g2sd_mm.checkpoint import CheckpointError, state_dict_problems

DIM, DEPTH, HEADS, IMG = 32, 4, 2, 64


@pytest.fixture(scope='module')
def stock():
    """mmseg's MAE UperNet (stock config, shrunk) with random weights."""
    torch.manual_seed(0)
    model = build_stock(DIM, DEPTH, HEADS, IMG)
    seed_weights(model)
    return model


def _logits(model, x):
    with torch.no_grad():
        feats = model.extract_feat(x)
        return model.decode_head(feats), model.auxiliary_head(feats)


def test_stock_model_logits_match_after_conversion(stock):
    state = stock.state_dict()
    assert is_mmseg_mae_layout(state)
    converted = mmseg_mae_to_g2sd(state)
    indices = [k for k in state if k.endswith('relative_position_index')]
    assert len(converted) == len(state) - len(indices) and len(indices) == DEPTH
    ours = build_ours(DIM, DEPTH, HEADS, IMG)
    ours.load_state_dict(converted, strict=True)

    x = torch.randn(2, 3, IMG, IMG, generator=torch.Generator().manual_seed(1))
    (dec_ref, aux_ref), (dec, aux) = _logits(stock, x), _logits(ours, x)
    assert dec.shape == (2, CLASSES, IMG // 4, IMG // 4)
    diff, aux_diff = (dec - dec_ref).abs().max().item(), (aux - aux_ref).abs().max().item()
    print(f'max abs logit difference: decode {diff:.3g} (|logits| <= '
          f'{dec_ref.abs().max().item():.3g}), auxiliary {aux_diff:.3g}')
    assert diff < 1e-4 and aux_diff < 1e-4

    # the comparison sees the class-token entries: swapping cls->token and token->cls rows
    # of one table changes the logits
    with torch.no_grad():
        table = ours.backbone.blocks[0].rel_pos.relative_position_bias_table
        table[[-3, -2]] = table[[-2, -3]].clone()
    assert (_logits(ours, x)[0] - dec_ref).abs().max().item() > 1e-2


def test_round_trip_loads_into_stock_model(stock):
    state = stock.state_dict()
    back = g2sd_to_mmseg_mae(mmseg_mae_to_g2sd(state))
    assert state_dict_problems(state, back) == []
    assert all(torch.equal(back[k].to(v.dtype), v) for k, v in state.items())
    stock.load_state_dict(back, strict=True)


def test_full_size_key_coverage(monkeypatch):
    """The published ViT-B model's keys and shapes (stock config, 512 px) fill
    g2sd_mm's ViT-B UperNet teacher config exactly (built on the meta device)."""
    from mmseg.models.backbones.mae import MAEAttention
    linspace = torch.linspace
    # drop-path rates are read with .item(); keep that one tensor on the CPU
    monkeypatch.setattr(torch, 'linspace', lambda *a, **k: linspace(*a, **{**k, 'device': 'cpu'}))
    with torch.device('meta'):
        published = build(STOCK_CFG, pretrained=None)
        ours = build(OUR_CFG, backbone=dict(init_cfg=None))
    # the index buffers as mmseg computes them (meta tensors have no values)
    index = MAEAttention(768, 12, (32, 32)).relative_position_index
    state = {k: index if k.endswith('relative_position_index') else v
             for k, v in published.state_dict().items()}
    assert len(state) == 289
    converted = mmseg_mae_to_g2sd(state)
    assert len(converted) == 277
    assert state_dict_problems(ours.state_dict(), converted) == []


def _hand_made(dim=DIM, depth=DEPTH, heads=HEADS, grid=4):
    """An mmseg MAE UperNet state dict written from the layout's key names and
    shapes (backbone) plus the neck and heads of the tiny config (same names)."""
    rows = (2 * grid - 1) ** 2 + 3
    state = {'backbone.cls_token': torch.randn(1, 1, dim),
             'backbone.pos_embed': torch.randn(1, 1 + grid * grid, dim),
             'backbone.patch_embed.projection.weight': torch.randn(dim, 3, 16, 16),
             'backbone.patch_embed.projection.bias': torch.randn(dim)}
    from timm.layers import gen_relative_position_index
    for i in range(depth):
        p = f'backbone.layers.{i}.'
        state.update({
            p + 'gamma_1': torch.rand(dim), p + 'gamma_2': torch.rand(dim),
            p + 'ln1.weight': torch.randn(dim), p + 'ln1.bias': torch.randn(dim),
            p + 'attn.relative_position_bias_table': torch.randn(rows, heads),
            p + 'attn.relative_position_index': gen_relative_position_index(
                (grid, grid), class_token=True),
            p + 'attn.qkv.weight': torch.randn(3 * dim, dim),
            p + 'attn.qkv.bias': torch.randn(3 * dim),
            p + 'attn.proj.weight': torch.randn(dim, dim), p + 'attn.proj.bias': torch.randn(dim),
            p + 'ln2.weight': torch.randn(dim), p + 'ln2.bias': torch.randn(dim),
            p + 'ffn.layers.0.0.weight': torch.randn(4 * dim, dim),
            p + 'ffn.layers.0.0.bias': torch.randn(4 * dim),
            p + 'ffn.layers.1.weight': torch.randn(dim, 4 * dim),
            p + 'ffn.layers.1.bias': torch.randn(dim)})
    ours = build_ours(dim, depth, heads, grid * 16)
    state.update({k: v.clone() for k, v in ours.state_dict().items()
                  if k.startswith(('neck.', 'decode_head.', 'auxiliary_head.'))})
    return state, ours


def test_hand_made_checkpoint_every_key_used_every_target_filled():
    state, ours = _hand_made()
    converted = mmseg_mae_to_g2sd(state)
    assert state_dict_problems(ours.state_dict(), converted) == []
    ours.load_state_dict(converted, strict=True)
    assert torch.equal(ours.backbone.blocks[1].ls2.gamma, state['backbone.layers.1.gamma_2'])
    assert torch.equal(ours.backbone.blocks[0].rel_pos.relative_position_bias_table,
                       state['backbone.layers.0.attn.relative_position_bias_table'])
    assert torch.equal(ours.backbone.blocks[0].mlp.fc1.weight,
                       state['backbone.layers.0.ffn.layers.0.0.weight'])


def test_leftovers_are_named():
    state, _ = _hand_made()
    with pytest.raises(CheckpointError, match=r'final norm.*backbone\.ln1\.bias, '
                                              r'backbone\.ln1\.weight'):
        mmseg_mae_to_g2sd({**state, 'backbone.ln1.weight': torch.ones(DIM),
                           'backbone.ln1.bias': torch.zeros(DIM)}, source='final_norm.pth')
    qv = {f'backbone.layers.{i}.attn.q_bias': torch.zeros(DIM) for i in range(2)}
    with pytest.raises(CheckpointError, match=r'bad\.pth: 2 key\(s\) have no mmseg MAE -> '
                                              r'g2sd_mm mapping.*'
                                              r'backbone\.layers\.\{0-1\}\.attn\.q_bias'):
        mmseg_mae_to_g2sd({**state, **qv}, source='bad.pth')
    wrong = dict(state)
    wrong['backbone.layers.1.attn.relative_position_index'] = \
        state['backbone.layers.1.attn.relative_position_index'].t().contiguous()
    with pytest.raises(CheckpointError, match=r'layers\.1\.attn\.relative_position_index is '
                                              'not the BEiT relative-position index'):
        mmseg_mae_to_g2sd(wrong)


def test_other_layouts_and_architectures_are_refused(tmp_path):
    # an official MAE / timm encoder is not this layout
    with pytest.raises(CheckpointError, match=r'mae\.pth: 1 key.* mapping: blocks\.0\.norm1'):
        mmseg_mae_to_g2sd({'blocks.0.norm1.weight': torch.ones(8)}, source='mae.pth')
    # a model of another width does not fit the config
    state, _ = _hand_made(dim=48, heads=3)
    config = write_tiny_config(str(tmp_path / 'tiny.py'), DIM, DEPTH, HEADS, 64)
    with pytest.raises(CheckpointError, match=r'vit48\.pth does not match the segmentor '
                                              r'.*shape mismatch'):
        check_segmentor_state(mmseg_mae_to_g2sd(state), config, source='vit48.pth')


def test_converter_output_is_a_strictly_loaded_distillation_teacher(
        tmp_path, stock, monkeypatch):
    from mmseg.registry import MODELS
    src, dst = tmp_path / 'mmseg_mae.pth', tmp_path / 'teacher.pth'
    meta = dict(CLASSES=('a', 'b'), config='model = dict()', mmseg_version='0.24.0')
    torch.save(dict(state_dict=stock.state_dict(), meta=meta), src)
    config = write_tiny_config(str(tmp_path / 'tiny.py'), DIM, DEPTH, HEADS, IMG)
    monkeypatch.setattr(sys, 'argv', ['mmseg_mae_to_g2sd.py', str(src), str(dst),
                                      '--config', config])
    from seg_models import ROOT
    runpy.run_path(f'{ROOT}/tools/model_converters/mmseg_mae_to_g2sd.py', run_name='__main__')

    distiller = MODELS.build(dict(
        type='SegmentationDistiller', student=dict(cfg_path=config),
        teacher=dict(cfg_path=config), teacher_ckpt=str(dst)))
    x = torch.randn(1, 3, IMG, IMG)
    ref = _logits(stock, x)[0]
    got = distiller.teacher_logits(x)
    assert (got - ref).abs().max().item() < 1e-4
