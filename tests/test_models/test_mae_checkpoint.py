import pytest
import torch
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from tiny_models import TEACHER, module_kwargs

from g2sd_mm.checkpoint import (CheckpointError, load_mae_checkpoint, mmpretrain_to_official,
                                official_to_mmpretrain)
from g2sd_mm.models import MaskedAutoencoderViT


def _teacher(decoder_depth=2, **kw):
    cfg = module_kwargs(TEACHER)
    cfg.update(decoder_depth=decoder_depth, **kw)
    return MaskedAutoencoderViT(**cfg).eval()


def _mmpretrain_mae():
    torch.manual_seed(1)
    model = MMPRETRAIN_MODELS.build(dict(
        type='MAE', _scope_='mmpretrain',
        backbone=dict(type='MAEViT', arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                               feedforward_channels=128),
                      img_size=32, patch_size=8, mask_ratio=0.75),
        neck=dict(type='MAEPretrainDecoder', num_patches=16, patch_size=8, in_chans=3,
                  embed_dim=32, decoder_embed_dim=16, decoder_depth=4, decoder_num_heads=2,
                  mlp_ratio=4.),
        head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=8,
                  loss=dict(type='PixelReconstructionLoss', criterion='L2'))))
    model.init_weights()
    for p in model.parameters():  # make every tensor distinctive
        p.data.add_(torch.randn_like(p) * 0.02)
    return model.eval()


def test_official_full_checkpoint_loads_strictly(official_full_ckpt, full_teacher):
    teacher = _teacher(decoder_depth=2)
    layout = load_mae_checkpoint(teacher, official_full_ckpt, role='teacher')
    assert layout == 'official'
    ref = full_teacher.state_dict()
    for k, v in teacher.state_dict().items():
        torch.testing.assert_close(v, ref[k], msg=k)


def test_encoder_only_checkpoint_is_refused(tmp_path, full_teacher):
    state = {k: v for k, v in full_teacher.state_dict().items()
             if not k.startswith(('decoder', 'mask_token'))}
    path = tmp_path / 'mae_pretrain_vit_tiny.pth'
    torch.save(dict(model=state), path)
    with pytest.raises(CheckpointError) as err:
        load_mae_checkpoint(_teacher(), str(path), role='teacher')
    msg = str(err.value)
    assert str(path) in msg and 'encoder-only' in msg
    assert 'decoder_embed.weight' in msg and 'mask_token' in msg


def test_too_few_decoder_blocks(tmp_path, full_teacher):
    state = {k: v for k, v in full_teacher.state_dict().items()
             if not k.startswith('decoder_blocks.1.')}
    path = tmp_path / 'short.pth'
    torch.save(dict(model=state), path)
    with pytest.raises(CheckpointError, match='decoder_blocks.1.attn.qkv.weight'):
        load_mae_checkpoint(_teacher(decoder_depth=2), str(path), role='teacher')


def test_wrong_architecture_names_shapes(official_full_ckpt):
    cfg = module_kwargs(TEACHER)
    cfg.update(arch=dict(embed_dim=48, depth=2, num_heads=2), decoder_depth=2)
    with pytest.raises(CheckpointError, match=r'shape mismatch.*checkpoint \(1, 1, 32\) vs '
                       r'model \(1, 1, 48\)'):
        load_mae_checkpoint(MaskedAutoencoderViT(**cfg), official_full_ckpt, role='teacher')


def test_unknown_extra_key_is_refused(tmp_path, full_teacher):
    state = full_teacher.state_dict()
    state['blocks.0.attn.q_bias'] = torch.zeros(32)
    path = tmp_path / 'extra.pth'
    torch.save(state, path)
    with pytest.raises(CheckpointError, match='unexpected key.*blocks.0.attn.q_bias'):
        load_mae_checkpoint(_teacher(), str(path))


def test_truncated_and_missing_files(tmp_path, official_full_ckpt):
    data = open(official_full_ckpt, 'rb').read()
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='broken.pth'):
        load_mae_checkpoint(_teacher(), str(broken))
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_mae_checkpoint(_teacher(), str(tmp_path / 'nope.pth'))


def test_position_tables_resized_to_model_grid(official_full_ckpt):
    teacher = _teacher(img_size=48)  # 6x6 grid; file has 4x4
    load_mae_checkpoint(teacher, official_full_ckpt)
    assert teacher.pos_embed.shape == (1, 37, 32)


def test_key_mapping_round_trip(full_teacher):
    state = full_teacher.state_dict()
    state['decoder_pred.weight'] = torch.zeros(3, 16)
    mm = official_to_mmpretrain(state)
    assert 'backbone.layers.0.ffn.layers.0.0.weight' in mm
    assert 'neck.decoder_blocks.3.ln2.bias' in mm and 'neck.ln1.weight' in mm
    back = mmpretrain_to_official(mm)
    assert back.keys() == state.keys()
    assert all(back[k] is state[k] for k in state)


def test_mmpretrain_mae_checkpoint_matches_mmpretrain_forward(tmp_path):
    """The converted mmpretrain MAE gives the same encoder output and the same
    decoder hidden states (after block 2) as mmpretrain's own forward."""
    mae = _mmpretrain_mae()
    path = tmp_path / 'mmpretrain_mae.pth'
    torch.save(dict(state_dict=mae.state_dict(), meta=dict(epoch=1)), path)
    teacher = _teacher(decoder_depth=2)
    assert load_mae_checkpoint(teacher, str(path), role='teacher') == 'mmpretrain'

    x = torch.randn(2, 3, 32, 32)
    hidden = {}
    mae.neck.decoder_blocks[1].register_forward_hook(lambda m, i, o: hidden.setdefault('h', o))
    torch.manual_seed(7)
    with torch.no_grad():
        latent, mask, ids_restore = mae.backbone(x)
        mae.neck(latent, ids_restore)
    torch.manual_seed(7)
    noise = torch.rand(2, 16)  # the same draw mmpretrain's random_masking made
    from g2sd_mm.models.utils import masking_from_noise
    m = masking_from_noise(noise, 0.75)
    torch.testing.assert_close(m.ids_restore, ids_restore)
    torch.testing.assert_close(m.mask, mask)
    with torch.no_grad():
        ours_latent = teacher.forward_encoder(x, m.ids_keep)
        ours_hidden = teacher(x, m.ids_keep, m.ids_restore)
    torch.testing.assert_close(ours_latent, latent, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours_hidden, hidden['h'], rtol=1e-5, atol=1e-5)
