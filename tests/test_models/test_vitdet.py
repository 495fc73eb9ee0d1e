from functools import partial

import pytest
import torch
from timm.models.vision_transformer import Block as VitBlock

from g2sd_mm.checkpoint import (CheckpointError, encoder_to_mmpretrain_backbone,
                                load_vit_pretrained)
from g2sd_mm.models import MaskedAutoencoderViT, ViTDet

ARCH = dict(embed_dim=32, depth=4, num_heads=2)


def _vitdet(**kw):
    torch.manual_seed(0)
    cfg = dict(arch=ARCH, img_size=64, pretrain_img_size=64, window_size=4,
               global_attn_indexes=(1, 3), drop_path_rate=0.0)
    cfg.update(kw)
    return ViTDet(**cfg).eval()


def _randomise_rel_pos(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'rel_pos' in name:
                p.normal_(std=0.5)


@pytest.fixture
def mae_encoder():
    """Encoder weights of a tiny stage-1 style student (official/timm names)."""
    torch.manual_seed(1)
    mae = MaskedAutoencoderViT(ARCH, img_size=64, patch_size=16, decoder_embed_dim=16,
                               decoder_depth=1, decoder_num_heads=2)
    with torch.no_grad():  # make the fixed sin-cos table distinguishable from a fresh init
        mae.pos_embed.add_(torch.randn_like(mae.pos_embed))
    state = mae.state_dict()
    return {k: v.clone() for k, v in state.items() if not k.startswith(('decoder', 'mask_token'))}


@pytest.mark.parametrize('hw', [(64, 64), (64, 96), (80, 112), (48, 16)])
def test_output_shapes(hw):
    model = _vitdet()
    out = model(torch.randn(2, 3, *hw))
    assert isinstance(out, tuple) and len(out) == 1
    assert out[0].shape == (2, 32, hw[0] // 16, hw[1] // 16)


def test_bad_arguments_and_sizes():
    with pytest.raises(ValueError, match='not a multiple of the patch size 16'):
        _vitdet()(torch.randn(1, 3, 64, 72))
    with pytest.raises(ValueError, match='out of range'):
        _vitdet(global_attn_indexes=(4,))
    with pytest.raises(ValueError, match='unknown arch'):
        ViTDet('huge')
    assert ViTDet(dict(embed_dim=32, depth=24, num_heads=2), img_size=64,
                  window_size=4).global_attn_indexes == (5, 11, 17, 23)


def test_default_global_blocks():
    model = ViTDet(dict(embed_dim=32, depth=12, num_heads=2), img_size=64, window_size=2)
    assert model.global_attn_indexes == (2, 5, 8, 11)
    assert [b.window_size for b in model.blocks] == [2, 2, 0] * 4
    # global tables cover the 4x4 grid of a 64 px image, windowed ones a 2x2 window
    assert model.blocks[2].attn.rel_pos_h.shape == (7, 16)
    assert model.blocks[0].attn.rel_pos_h.shape == (3, 16)


@pytest.mark.parametrize('global_idx, far_changes', [((), False), ((1,), True)])
def test_window_attention_is_local(global_idx, far_changes):
    """4x4 patch grid, 2x2 windows: a change in window (0, 0) reaches window
    (1, 1) only through a global block."""
    model = _vitdet(arch=dict(embed_dim=32, depth=2, num_heads=2), window_size=2,
                    global_attn_indexes=global_idx)
    _randomise_rel_pos(model)
    x = torch.randn(1, 3, 64, 64)
    y = x.clone()
    y[..., :16, :16] += 1.0  # patch (0, 0)
    with torch.no_grad():
        a, b = model(x)[0], model(y)[0]
    assert not torch.allclose(a[..., :2, :2], b[..., :2, :2])
    assert torch.allclose(a[..., 2:, 2:], b[..., 2:, 2:], atol=1e-6) != far_changes
    assert torch.allclose(a[..., :2, 2:], b[..., :2, 2:], atol=1e-6) != far_changes


def test_padded_windows_are_local():
    """Non-square grid (3x5) padded to 4x6 inside the partition: the padding
    does not couple windows either."""
    model = _vitdet(window_size=2, global_attn_indexes=())
    _randomise_rel_pos(model)
    x = torch.randn(1, 3, 48, 80)
    y = x.clone()
    y[..., :16, :16] -= 2.0
    with torch.no_grad():
        a, b = model(x)[0], model(y)[0]
    assert a.shape == (1, 32, 3, 5)
    torch.testing.assert_close(a[..., 2:, :], b[..., 2:, :])
    torch.testing.assert_close(a[..., :, 2:], b[..., :, 2:])


def test_fused_equals_manual_attention():
    fused, manual = _vitdet(fused_attn=True), _vitdet(fused_attn=False)
    _randomise_rel_pos(fused)
    manual.load_state_dict(fused.state_dict())
    assert all(b.attn.fused_attn for b in fused.blocks)
    assert not any(b.attn.fused_attn for b in manual.blocks)
    x = torch.randn(2, 3, 80, 96)  # padded windows and interpolated global tables
    with torch.no_grad():
        torch.testing.assert_close(fused(x)[0], manual(x)[0], rtol=1e-5, atol=1e-5)


def test_zero_rel_pos_is_plain_attention():
    with_rel, without = _vitdet(), _vitdet(use_rel_pos=False)
    rel = {k: v for k, v in with_rel.state_dict().items() if 'rel_pos' in k}
    assert len(rel) == 8 and all(torch.count_nonzero(v) == 0 for v in rel.values())
    state = {k: v for k, v in with_rel.state_dict().items() if 'rel_pos' not in k}
    without.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(with_rel(x)[0], without(x)[0])


def test_global_block_matches_vit_block():
    """A global block with zero rel-pos tables computes what the stage-1 ViT
    block with the same weights computes (no class token)."""
    model = _vitdet()
    vit_block = VitBlock(32, 2, 4.0, qkv_bias=True,
                         norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)).eval()
    state = {k: v for k, v in model.blocks[1].state_dict().items() if 'rel_pos' not in k}
    vit_block.load_state_dict(state, strict=True)
    x = torch.randn(2, 4, 6, 32)
    with torch.no_grad():
        ref = vit_block(x.reshape(2, 24, 32)).reshape(2, 4, 6, 32)
        torch.testing.assert_close(model.blocks[1](x), ref, rtol=1e-5, atol=1e-5)


def _assert_same_encoder(model, enc):
    own = model.state_dict()
    for key, value in enc.items():
        if key in own:
            torch.testing.assert_close(own[key], value, msg=key)
    assert torch.equal(model.pos_embed, enc['pos_embed'])


def test_stage1_export_round_trip_timm_layout(tmp_path, mae_encoder):
    path = tmp_path / 'student_timm.pth'
    torch.save(dict(model=mae_encoder), path)
    model = _vitdet()
    info = load_vit_pretrained(model, str(path))
    assert sorted(info['missing']) == sorted(
        f'blocks.{i}.attn.rel_pos_{a}' for i in range(4) for a in 'hw')
    assert info['ignored'] == ['cls_token', 'norm.bias', 'norm.weight']
    _assert_same_encoder(model, mae_encoder)


def test_stage1_export_round_trip_mmpretrain_layout(tmp_path, mae_encoder):
    path = tmp_path / 'student_mmpretrain.pth'
    mm = encoder_to_mmpretrain_backbone(mae_encoder)
    assert any(k.startswith('backbone.layers.') for k in mm)
    torch.save(dict(state_dict=mm), path)
    model = _vitdet()
    info = load_vit_pretrained(model, str(path))
    assert len(info['missing']) == 8 and all('rel_pos' in k for k in info['missing'])
    _assert_same_encoder(model, mae_encoder)


def test_init_cfg_pretrained_goes_through_loader(tmp_path, mae_encoder):
    from mmdet.registry import MODELS
    path = tmp_path / 'student_mmpretrain.pth'
    torch.save(dict(state_dict=encoder_to_mmpretrain_backbone(mae_encoder)), path)
    model = MODELS.build(dict(type='ViTDet', arch=ARCH, img_size=64, pretrain_img_size=64,
                              window_size=4, global_attn_indexes=(1, 3),
                              init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    model.init_weights()
    _assert_same_encoder(model, mae_encoder)
    assert all(torch.count_nonzero(p) == 0
               for n, p in model.named_parameters() if 'rel_pos' in n)


def test_full_mae_checkpoint_and_resized_pos_embed(mae_encoder):
    full = dict(mae_encoder)
    full['decoder_embed.weight'] = torch.zeros(16, 32)
    full['mask_token'] = torch.zeros(1, 1, 16)
    full['head.weight'] = torch.zeros(10, 32)
    model = _vitdet(pretrain_img_size=32)  # 2x2 grid instead of the file's 4x4
    info = load_vit_pretrained(model, {'model': full})
    assert 'decoder_embed.weight' in info['ignored'] and 'head.weight' in info['ignored']
    assert model.pos_embed.shape == (1, 5, 32)
    torch.testing.assert_close(model.pos_embed[:, 0], mae_encoder['pos_embed'][:, 0])
    # the position table is still resampled to the input grid at runtime
    assert model(torch.randn(1, 3, 64, 48))[0].shape == (1, 32, 4, 3)


def test_rel_pos_tables_resized_on_load():
    src = _vitdet()
    _randomise_rel_pos(src)
    dst = _vitdet(img_size=128)  # global tables 15 rows instead of 7
    info = load_vit_pretrained(dst, {'state_dict': src.state_dict()})
    assert info['missing'] == [] and info['ignored'] == []
    assert dst.blocks[1].attn.rel_pos_h.shape == (15, 16)
    torch.testing.assert_close(dst.blocks[0].attn.rel_pos_w, src.blocks[0].attn.rel_pos_w)


def test_detector_checkpoint_prefix(mae_encoder):
    state = {'backbone.' + k: v for k, v in mae_encoder.items()}
    state['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
    model = _vitdet()
    load_vit_pretrained(model, {'state_dict': state})
    _assert_same_encoder(model, mae_encoder)
    student = {'student.' + k: v for k, v in state.items()}
    student['teacher.backbone.pos_embed'] = torch.zeros(1)
    model = _vitdet()
    load_vit_pretrained(model, {'state_dict': student})
    _assert_same_encoder(model, mae_encoder)
    with pytest.raises(CheckpointError, match="no key starts with 'other.'"):
        load_vit_pretrained(_vitdet(), {'state_dict': state}, prefix='other')


def test_missing_block_key_names_file(tmp_path, mae_encoder):
    del mae_encoder['blocks.2.attn.qkv.weight']
    path = tmp_path / 'broken.pth'
    torch.save(dict(model=mae_encoder), path)
    with pytest.raises(CheckpointError,
                       match=r'broken\.pth.*missing.*blocks\.2\.attn\.qkv\.weight'):
        load_vit_pretrained(_vitdet(), str(path))


def test_wrong_embed_dim_names_file(tmp_path, mae_encoder):
    path = tmp_path / 'student.pth'
    torch.save(dict(model=mae_encoder), path)
    model = _vitdet(arch=dict(embed_dim=48, depth=4, num_heads=2))
    with pytest.raises(CheckpointError, match=r'student\.pth.*shape mismatch.*patch_embed'):
        load_vit_pretrained(model, str(path))


def test_unexpected_key_and_missing_file(tmp_path, mae_encoder):
    mae_encoder['blocks.0.attn.extra'] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r'unexpected.*blocks\.0\.attn\.extra'):
        load_vit_pretrained(_vitdet(), {'model': mae_encoder})
    with pytest.raises(OSError):
        load_vit_pretrained(_vitdet(), str(tmp_path / 'nope.pth'))
    with pytest.raises(OSError):
        _vitdet(init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'nope.pth'))
                ).init_weights()


def test_drop_path_only_in_train_mode():
    model = _vitdet(drop_path_rate=0.5)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        model.train()
        torch.manual_seed(0)
        a = model(x)[0]
        torch.manual_seed(1)
        b = model(x)[0]
        model.eval()
        c, d = model(x)[0], model(x)[0]
    assert not torch.allclose(a, b)
    torch.testing.assert_close(c, d)
    plain = _vitdet(drop_path_rate=0.0)
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(plain(x)[0], c)
