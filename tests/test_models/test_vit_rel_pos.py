import pytest
import timm
import torch

from g2sd_mm.checkpoint import (CheckpointError, encoder_to_mmpretrain_backbone,
                                load_vit_rel_pos_pretrained)
from g2sd_mm.models import MaskedAutoencoderViT, ViTRelPos
from g2sd_mm.models.backbones.vit_rel_pos import resize_rel_pos_table

ARCH = dict(embed_dim=32, depth=4, num_heads=2)
NEW = sorted([f'blocks.{i}.rel_pos.relative_position_bias_table' for i in range(4)]
             + [f'blocks.{i}.ls{j}.gamma' for i in range(4) for j in (1, 2)])


def _vit(**kw):
    torch.manual_seed(0)
    cfg = dict(arch=ARCH, img_size=64, patch_size=16, out_indices=(0, 1, 2, 3),
               drop_path_rate=0.0)
    cfg.update(kw)
    return ViTRelPos(**cfg).eval()


def _randomise(model, std=0.5):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'rel_pos' in name or name.endswith('gamma'):
                p.normal_(std=std)


@pytest.fixture
def mae_encoder():
    """Encoder weights of a tiny stage-1 style student (official/timm names, 4x4 grid)."""
    torch.manual_seed(1)
    mae = MaskedAutoencoderViT(ARCH, img_size=64, patch_size=16, decoder_embed_dim=16,
                               decoder_depth=1, decoder_num_heads=2)
    with torch.no_grad():
        mae.pos_embed.add_(torch.randn_like(mae.pos_embed))
        mae.cls_token.normal_()
    state = mae.state_dict()
    return {k: v.clone() for k, v in state.items() if not k.startswith(('decoder', 'mask_token'))}


@pytest.mark.parametrize('hw,grid', [((64, 64), (4, 4)), ((512, 512), (32, 32)),
                                     ((64, 96), (4, 6)), ((112, 224), (7, 14)),
                                     ((50, 70), (4, 5))])
def test_output_shapes(hw, grid):
    model = _vit(out_indices=(1, 3))
    _randomise(model)
    with torch.no_grad():
        out = model(torch.randn(2, 3, *hw))
    assert isinstance(out, tuple) and len(out) == 2
    assert all(o.shape == (2, 32, *grid) for o in out)


def test_bad_arguments():
    with pytest.raises(ValueError, match='out_indices'):
        _vit(out_indices=(4,))
    with pytest.raises(ValueError, match='out_indices'):
        _vit(out_indices=(1, 1))
    with pytest.raises(ValueError, match='not a multiple of the patch size'):
        _vit(img_size=72)
    with pytest.raises(ValueError, match='not divisible'):
        _vit(arch=dict(embed_dim=30, depth=2, num_heads=4), out_indices=(1,))
    with pytest.raises(ValueError, match='unknown arch'):
        ViTRelPos('huge')


def test_parameter_layout_and_init():
    model = _vit(layer_scale_init_value=1.0)
    names = dict(model.named_parameters())
    assert names['blocks.0.rel_pos.relative_position_bias_table'].shape == (7 * 7 + 3, 2)
    assert all(torch.count_nonzero(p) == 0 for n, p in names.items() if 'rel_pos' in n)
    assert all(torch.all(p == 1.0) for n, p in names.items() if n.endswith('gamma'))
    # the index is derived from the geometry, not stored
    assert not any('relative_position_index' in k for k in model.state_dict())
    assert not hasattr(_vit(layer_scale_init_value=None).blocks[0].ls1, 'gamma')
    assert 'blocks.1.rel_pos.relative_position_bias_table' in model.no_weight_decay()


def test_fused_equals_manual_attention():
    fused, manual = _vit(fused_attn=True), _vit(fused_attn=False)
    _randomise(fused)
    manual.load_state_dict(fused.state_dict())
    assert all(b.attn.fused_attn for b in fused.blocks)
    assert not any(b.attn.fused_attn for b in manual.blocks)
    x = torch.randn(2, 3, 80, 96)  # another grid than the tables': resampled bias
    outs = []
    for model in (fused, manual):
        model.train()  # no dropout configured; gradients through the bias mask
        y = model(x)
        (y[-1] ** 2).mean().backward()
        outs.append((y, model.blocks[1].rel_pos.relative_position_bias_table.grad.clone()))
    for a, b in zip(outs[0][0], outs[1][0]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert outs[0][1].abs().sum() > 0
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=1e-4, atol=1e-6)


def test_relative_position_bias_is_translation_invariant():
    model = _vit()
    _randomise(model)
    rel = model.blocks[0].rel_pos
    bias = rel((4, 4))[0, 0, 1:, 1:].reshape(4, 4, 4, 4)  # (qy, qx, ky, kx)
    # same offset -> same bias
    assert bias[0, 0, 1, 2] == bias[2, 1, 3, 3]
    assert bias[3, 3, 1, 2] == bias[2, 1, 0, 0]  # offset (-2, -1)
    assert bias[0, 0, 1, 2] != bias[0, 0, 2, 1]  # (1, 2) and (2, 1) differ
    # class-token rows/columns use the three extra entries
    table = rel.relative_position_bias_table
    full = rel((4, 4))[0, 0]  # head 0
    assert torch.all(full[0, 1:] == table[-3, 0]) and torch.all(full[1:, 0] == table[-2, 0])
    assert full[0, 0] == table[-1, 0]


def test_resize_rel_pos_table_keeps_extra_entries_and_constants():
    table = torch.randn(7 * 7 + 3, 2)
    out = resize_rel_pos_table(table, (4, 4), (8, 6))
    assert out.shape == (15 * 11 + 3, 2)
    torch.testing.assert_close(out[-3:], table[-3:])
    const = torch.full((7 * 7 + 3, 2), 0.25)
    torch.testing.assert_close(resize_rel_pos_table(const, (4, 4), (6, 6)),
                               torch.full((11 * 11 + 3, 2), 0.25))


def test_matches_timm_vit_with_zero_bias_and_unit_scale(mae_encoder):
    """With zero tables and layer scale 1 the backbone is the stage-1 ViT:
    its token maps equal timm's VisionTransformer blocks on the same weights."""
    model = _vit()
    load_vit_rel_pos_pretrained(model, {'model': mae_encoder})
    vit = timm.create_model('vit_tiny_patch16_224', pretrained=False, img_size=64,
                            embed_dim=32, depth=4, num_heads=2, num_classes=0).eval()
    res = vit.load_state_dict(mae_encoder, strict=True)
    assert not res.missing_keys
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours = model(x)
        tokens = vit._pos_embed(vit.patch_embed(x))
        for i, blk in enumerate(vit.blocks):
            tokens = blk(tokens)
            ref = tokens[:, 1:].transpose(1, 2).reshape(2, 32, 4, 4)
            torch.testing.assert_close(ours[i], ref, rtol=1e-5, atol=1e-5)


def _assert_same_encoder(model, enc):
    own = model.state_dict()
    for key, value in enc.items():
        if key in own:
            torch.testing.assert_close(own[key], value, msg=key)


def test_stage1_export_loads_strictly_mmpretrain_layout(tmp_path, mae_encoder):
    """The stage-1 export (``*_backbone.pth``, mmpretrain layout) loads with only
    the new parameters missing, through ``init_cfg`` as the configs use it."""
    from mmseg.registry import MODELS
    path = tmp_path / 'vit_backbone.pth'
    torch.save(dict(state_dict=encoder_to_mmpretrain_backbone(mae_encoder)), path)
    info = load_vit_rel_pos_pretrained(_vit(), str(path))
    assert sorted(info['missing']) == NEW
    assert info['ignored'] == ['norm.bias', 'norm.weight']
    model = MODELS.build(dict(type='ViTRelPos', arch=ARCH, img_size=64, patch_size=16,
                              out_indices=(3,),
                              init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    model.init_weights()
    _assert_same_encoder(model, mae_encoder)
    assert all(torch.count_nonzero(p) == 0 for n, p in model.named_parameters()
               if 'rel_pos' in n)


def test_timm_layout_and_resized_pos_embed(tmp_path, mae_encoder):
    path = tmp_path / 'vit_timm.pth'
    torch.save(mae_encoder, path)
    model = _vit(img_size=128)  # 8x8 grid instead of the file's 4x4
    info = load_vit_rel_pos_pretrained(model, str(path))
    assert sorted(info['missing']) == NEW
    assert model.pos_embed.shape == (1, 65, 32)
    torch.testing.assert_close(model.pos_embed[:, 0], mae_encoder['pos_embed'][:, 0])
    torch.testing.assert_close(model.cls_token, mae_encoder['cls_token'])


def test_full_mae_and_segmentor_checkpoints(mae_encoder):
    full = {'backbone.' + k: v for k, v in encoder_to_mmpretrain_backbone(mae_encoder).items()}
    full = {k.replace('backbone.backbone.', 'backbone.'): v for k, v in full.items()}
    full['neck.decoder_embed.weight'] = torch.zeros(16, 32)
    full['neck.mask_token'] = torch.zeros(1, 1, 16)
    model = _vit()
    load_vit_rel_pos_pretrained(model, {'state_dict': full})  # mmpretrain MAE: neck not read
    _assert_same_encoder(model, mae_encoder)
    # a segmentor trained at another size: tables and positions are resampled
    src = _vit()
    _randomise(src)
    seg = {'backbone.' + k: v for k, v in src.state_dict().items()}
    seg['decode_head.conv_seg.weight'] = torch.zeros(1)
    dst = _vit(img_size=96)
    info = load_vit_rel_pos_pretrained(dst, {'state_dict': seg})
    assert info['missing'] == [] and info['ignored'] == []
    assert dst.blocks[0].rel_pos.relative_position_bias_table.shape == (11 * 11 + 3, 2)
    torch.testing.assert_close(dst.blocks[2].ls1.gamma, src.blocks[2].ls1.gamma)


def test_bad_checkpoints_name_the_file(tmp_path, mae_encoder):
    broken = dict(mae_encoder)
    del broken['blocks.2.attn.qkv.weight']
    path = tmp_path / 'broken.pth'
    torch.save(dict(model=broken), path)
    with pytest.raises(CheckpointError,
                       match=r'broken\.pth.*missing.*blocks\.2\.attn\.qkv\.weight'):
        load_vit_rel_pos_pretrained(_vit(), str(path))

    path = tmp_path / 'student.pth'
    torch.save(dict(model=mae_encoder), path)
    with pytest.raises(CheckpointError, match=r'student\.pth.*shape mismatch.*patch_embed'):
        load_vit_rel_pos_pretrained(_vit(arch=dict(embed_dim=48, depth=4, num_heads=2)),
                                    str(path))
    with pytest.raises(CheckpointError, match=r'student\.pth.*unexpected.*blocks\.3\.'):
        load_vit_rel_pos_pretrained(_vit(arch=dict(embed_dim=32, depth=3, num_heads=2),
                                         out_indices=(2,)), str(path))

    extra = dict(mae_encoder)
    extra['blocks.0.attn.extra'] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r'unexpected.*blocks\.0\.attn\.extra'):
        load_vit_rel_pos_pretrained(_vit(), {'model': extra})

    with pytest.raises(OSError):
        load_vit_rel_pos_pretrained(_vit(), str(tmp_path / 'nope.pth'))
    with pytest.raises(OSError):
        _vit(init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'nope.pth'))
             ).init_weights()


def test_drop_path_only_in_train_mode():
    model = _vit(drop_path_rate=0.5)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        model.train()
        torch.manual_seed(0)
        a = model(x)[-1]
        torch.manual_seed(1)
        b = model(x)[-1]
        model.eval()
        c, d = model(x)[-1], model(x)[-1]
    assert not torch.allclose(a, b)
    torch.testing.assert_close(c, d)
    assert model.blocks[3].drop_path1.drop_prob == pytest.approx(0.5)
