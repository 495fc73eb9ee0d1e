import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer

from g2sd_mm.models import LayerNorm2d, SimpleFPN, ViTDet


@pytest.mark.parametrize('hw', [(8, 8), (4, 6)])
def test_five_levels_strides_and_channels(hw):
    torch.manual_seed(0)
    neck = SimpleFPN(backbone_channel=32, in_channels=[8, 16, 32, 32]).eval()
    x = torch.randn(2, 32, *hw)  # stride-16 map of a (16h, 16w) image
    outs = neck((x,))
    assert len(outs) == 5
    h, w = 16 * hw[0], 16 * hw[1]
    for out, stride in zip(outs, (4, 8, 16, 32, 64)):
        assert out.shape == (2, 256, -(-h // stride), -(-w // stride))
    # the extra level is a stride-2 subsampling of the stride-32 output
    torch.testing.assert_close(outs[4], outs[3][..., ::2, ::2])


def test_configured_channels_and_levels():
    neck = SimpleFPN(32, out_channels=16, num_outs=4)
    outs = neck((torch.randn(1, 32, 4, 4),))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 16, 16), (1, 16, 8, 8), (1, 16, 4, 4),
                                              (1, 16, 2, 2)]
    assert len(SimpleFPN(32, out_channels=16, num_outs=6)((torch.randn(1, 32, 8, 8),))) == 6


def test_bad_arguments():
    with pytest.raises(ValueError, match='do not match'):
        SimpleFPN(32, in_channels=[32, 32, 32, 32])
    with pytest.raises(ValueError, match='num_outs'):
        SimpleFPN(32, num_outs=3)
    with pytest.raises(ValueError, match='1-tuple'):
        SimpleFPN(32)(torch.randn(1, 32, 4, 4))


def test_ln2d_is_channel_layernorm_and_registered():
    from mmengine.registry import DefaultScope
    for scope in (None, 'mmdet', 'mmseg'):
        with DefaultScope.overwrite_default_scope(scope):
            name, norm = build_norm_layer(dict(type='LN2d', eps=1e-6), 8)
        assert name == 'ln' and isinstance(norm, LayerNorm2d) and norm.eps == 1e-6
    assert build_norm_layer(dict(type='LN2d'), 8)[1].eps == 1e-5  # mmcv's default
    assert SimpleFPN(32).lateral_convs[0].norm.eps == 1e-6
    x = torch.randn(2, 8, 3, 5)
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (8,), eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(norm(x), ref)


def test_on_vitdet_from_mmdet_registry():
    from mmdet.registry import MODELS
    backbone = ViTDet(dict(embed_dim=32, depth=2, num_heads=2), img_size=64, window_size=2,
                      global_attn_indexes=(1,)).eval()
    neck = MODELS.build(dict(type='SimpleFPN', backbone_channel=32, in_channels=[8, 16, 32, 32],
                             out_channels=16, num_outs=5, norm_cfg=dict(type='LN2d',
                                                                        requires_grad=True)))
    with torch.no_grad():
        outs = neck(backbone(torch.randn(1, 3, 64, 96)))
    assert [o.shape[-2:] for o in outs] == [(16, 24), (8, 12), (4, 6), (2, 3), (1, 2)]
