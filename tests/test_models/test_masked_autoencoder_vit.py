import pytest
import torch

from g2sd_mm.models import MaskedAutoencoderViT
from g2sd_mm.models.utils.masking import masking_from_noise

from tiny_models import TEACHER, module_kwargs


def _model(**kw):
    torch.manual_seed(0)
    cfg = module_kwargs(TEACHER)
    cfg.update(kw)
    return MaskedAutoencoderViT(**cfg).eval()


@pytest.mark.parametrize('hw', [(32, 32), (32, 48), (56, 40)])
def test_shapes_any_multiple_of_patch(hw):
    model = _model()
    x = torch.randn(2, 3, *hw)
    num = (hw[0] // 8) * (hw[1] // 8)
    m = masking_from_noise(torch.rand(2, num), 0.75)
    out = model(x, m.ids_keep, m.ids_restore)
    assert out.shape == (2, 1 + num, 16)
    assert model.forward_encoder(x, m.ids_keep).shape == (2, 1 + m.ids_keep.shape[1], 32)
    assert model.forward_encoder(x).shape == (2, 1 + num, 32)


def test_size_not_divisible_by_patch():
    model = _model()
    with pytest.raises(ValueError, match='30x32 is not a multiple of the patch size 8'):
        model.forward_encoder(torch.randn(1, 3, 30, 32))


def test_mask_size_must_match_input():
    model = _model()
    m = masking_from_noise(torch.rand(1, 16), 0.75)
    with pytest.raises(ValueError, match='mask covers 16 patches'):
        model(torch.randn(1, 3, 40, 40), m.ids_keep, m.ids_restore)


def test_fused_attention_equals_manual():
    fused, manual = _model(fused_attn=True), _model(fused_attn=False)
    manual.load_state_dict(fused.state_dict())
    assert fused.blocks[0].attn.fused_attn and not manual.blocks[0].attn.fused_attn
    x = torch.randn(2, 3, 32, 32)
    m = masking_from_noise(torch.rand(2, 16), 0.5)
    torch.testing.assert_close(fused(x, m.ids_keep, m.ids_restore),
                               manual(x, m.ids_keep, m.ids_restore), rtol=1e-5, atol=1e-5)


def test_truncated_decoder_is_prefix_of_full_decoder():
    full = _model(decoder_depth=4)
    short = _model(decoder_depth=2)
    state = {k: v for k, v in full.state_dict().items()
             if not k.startswith(('decoder_blocks.2', 'decoder_blocks.3'))}
    short.load_state_dict(state)
    seen = {}
    full.decoder_blocks[1].register_forward_hook(lambda m, i, o: seen.setdefault('h', o))
    x = torch.randn(2, 3, 32, 32)
    m = masking_from_noise(torch.rand(2, 16), 0.75)
    full_out = full(x, m.ids_keep, m.ids_restore)
    torch.testing.assert_close(short(x, m.ids_keep, m.ids_restore), seen['h'])
    assert not torch.allclose(full_out, seen['h'])


def test_visible_tokens_only_reach_encoder():
    model = _model()
    lengths = []
    model.blocks[0].register_forward_pre_hook(lambda m, a: lengths.append(a[0].shape[1]))
    m = masking_from_noise(torch.rand(2, 16), 0.75)
    model(torch.randn(2, 3, 32, 32), m.ids_keep, m.ids_restore)
    assert lengths == [1 + 4]


def test_bad_arch():
    with pytest.raises(ValueError, match='unknown arch'):
        MaskedAutoencoderViT(arch='huge-ish')
    with pytest.raises(ValueError, match='divisible'):
        MaskedAutoencoderViT(arch=dict(embed_dim=30, depth=1, num_heads=4), img_size=32,
                             patch_size=8, decoder_embed_dim=16, decoder_num_heads=2)


def test_position_tables_are_fixed_sincos():
    model = _model()
    assert not model.pos_embed.requires_grad and not model.decoder_pos_embed.requires_grad
    assert torch.all(model.pos_embed[0, 0] == 0)
    # sin^2 + cos^2 = 1 for each frequency pair of the column half
    quarter = 32 // 4
    col = model.pos_embed[0, 1:, :2 * quarter]
    torch.testing.assert_close(col[:, :quarter] ** 2 + col[:, quarter:] ** 2,
                               torch.ones(16, quarter))
