"""The G2SD reference's released classification students convert strictly into
g2sd_mm's distilled student: hand-made files in the reference layout (key names
and shapes of ``G2SD/models_vit.py`` with a distillation token)."""
import os.path as osp
import sys
from functools import partial

import pytest
import timm
import torch
import torch.nn.functional as F

from tool_runner import ROOT, run

from g2sd_mm.checkpoint.layouts.g2sd_reference_cls import (mmpretrain_to_reference_cls,
                                                           reference_cls_to_mmpretrain)
from g2sd_mm.checkpoint import CheckpointError

sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
from g2sd_ref_cls_to_mmpretrain import build_student, convert  # noqa: E402

TINY = dict(embed=192, depth=12, heads=3)
NUM_CLASSES = 10


def reference_state(embed=192, depth=12, num_classes=NUM_CLASSES, grid=14, seed=0):
    """A reference student's state dict: its key names and shapes, random values."""
    g = torch.Generator().manual_seed(seed)
    shapes = {'cls_token': (1, 1, embed), 'pos_embed': (1, 1 + grid * grid, embed),
              'dist_token': (1, 1, embed),
              'patch_embed.proj.weight': (embed, 3, 16, 16), 'patch_embed.proj.bias': (embed,),
              'norm.weight': (embed,), 'norm.bias': (embed,),
              'head.weight': (num_classes, embed), 'head.bias': (num_classes,),
              'head_dist.weight': (num_classes, embed), 'head_dist.bias': (num_classes,)}
    for i in range(depth):
        b = f'blocks.{i}.'
        shapes.update({
            b + 'norm1.weight': (embed,), b + 'norm1.bias': (embed,),
            b + 'attn.qkv.weight': (3 * embed, embed), b + 'attn.qkv.bias': (3 * embed,),
            b + 'attn.proj.weight': (embed, embed), b + 'attn.proj.bias': (embed,),
            b + 'norm2.weight': (embed,), b + 'norm2.bias': (embed,),
            b + 'mlp.fc1.weight': (4 * embed, embed), b + 'mlp.fc1.bias': (4 * embed,),
            b + 'mlp.fc2.weight': (embed, 4 * embed), b + 'mlp.fc2.bias': (embed,)})
    state = {k: torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}
    for k in state:
        if 'norm' in k and k.endswith('weight'):
            state[k] = 1.0 + state[k]
    return state


def _save(path, state, **extra):
    torch.save(dict(model=state, epoch=199, **extra), path)
    return str(path)


def test_round_trip_is_exact():
    ref = reference_state()
    mm = reference_cls_to_mmpretrain(ref)
    assert 'backbone.dist_token' in mm and 'head.layers.head_dist.weight' in mm
    back = mmpretrain_to_reference_cls(mm)
    assert set(back) == set(ref)
    assert all(back[k] is ref[k] for k in ref)


def test_converted_student_loads_strictly_and_matches_a_timm_reference_forward(tmp_path):
    """Same logits as the reference computation (timm ViT blocks; class token +
    position table, the distillation token appended after, final norm on all
    tokens, ``head`` on the first token and ``head_dist`` on the last)."""
    ref = reference_state()
    state = convert(_save(tmp_path / 'ref.pth', ref), 'deit-tiny')
    model = build_student('deit-tiny', NUM_CLASSES)
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    assert all(k.startswith('data_preprocessor.') for k in result.missing_keys)
    model.eval()

    vit = timm.models.vision_transformer.VisionTransformer(
        embed_dim=192, depth=12, num_heads=3, qkv_bias=True, num_classes=NUM_CLASSES,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6))
    vit.load_state_dict({k: v for k, v in ref.items() if not k.startswith(('dist_token',
                                                                          'head_dist'))})
    vit.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        tokens = vit.patch_embed(x)
        tokens = torch.cat([ref['cls_token'].expand(2, -1, -1), tokens], dim=1) + ref['pos_embed']
        tokens = torch.cat([tokens, ref['dist_token'].expand(2, -1, -1)], dim=1)
        tokens = vit.norm(vit.blocks(tokens))
        want_cls = F.linear(tokens[:, 0], ref['head.weight'], ref['head.bias'])
        want_dist = F.linear(tokens[:, -1], ref['head_dist.weight'], ref['head_dist.bias'])
        cls_tok, dist_tok = model.backbone(x)[-1]
        got_cls = model.head.layers.head(cls_tok)
        got_dist = model.head.layers.head_dist(dist_tok)
        averaged = model(x, mode='tensor')
    torch.testing.assert_close(got_cls, want_cls, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got_dist, want_dist, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(averaged, (want_cls + want_dist) / 2, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_command_line(tmp_path):
    ref = reference_state()
    good = _save(tmp_path / 'ref_vitt.pth', ref)
    out = tmp_path / 'out' / 'vitt_cls.pth'
    log = run([sys.executable, 'tools/model_converters/g2sd_ref_cls_to_mmpretrain.py', good,
               str(out), '--arch', 'deit-tiny'])
    assert f'wrote 155 tensors (deit-tiny, {NUM_CLASSES} classes)' in log
    saved = torch.load(out, weights_only=True)
    assert set(saved['state_dict']) == set(reference_cls_to_mmpretrain(ref))
    assert saved['meta']['arch'] == 'deit-tiny'


def test_strict_conversion_and_refusals(tmp_path):
    ref = reference_state()
    good = _save(tmp_path / 'ref_vitt.pth', ref)
    # the reference saves its argparse arguments: refused unless trusted
    pickled = _save(tmp_path / 'ref_args.pth', ref, args=_Args())
    with pytest.raises(CheckpointError, match='ref_args.pth.*refused to unpickle'):
        convert(pickled, 'deit-tiny')
    assert convert(pickled, 'deit-tiny', trust_pickle=True).keys() == \
        reference_cls_to_mmpretrain(ref).keys()

    with pytest.raises(CheckpointError, match=r"ref_vitt.pth: does not fit .*'deit-small'.*"
                                              'shape mismatch'):
        convert(good, 'deit-small')  # wrong arch
    leftover = _save(tmp_path / 'leftover.pth', dict(ref, **{'blocks.0.attn.q_bias':
                                                             torch.zeros(192)}))
    with pytest.raises(CheckpointError, match=r'leftover.pth: 1 key\(s\) with no place.*q_bias'):
        convert(leftover, 'deit-tiny')
    short = dict(ref)
    del short['blocks.11.mlp.fc2.weight']
    with pytest.raises(CheckpointError, match=r'short.pth.*missing key.*layers\.11\.ffn'):
        convert(_save(tmp_path / 'short.pth', short), 'deit-tiny')
    deeper = reference_state(depth=13)
    with pytest.raises(CheckpointError, match=r'deep.pth.*unexpected key.*layers\.12'):
        convert(_save(tmp_path / 'deep.pth', deeper), 'deit-tiny')
    pooled = {('fc_norm' + k[4:] if k.startswith('norm.') else k): v for k, v in ref.items()}
    with pytest.raises(CheckpointError, match='pooled.pth: a global-pool student'):
        convert(_save(tmp_path / 'pooled.pth', pooled), 'deit-tiny')
    plain = {k: v for k, v in ref.items() if not k.startswith(('dist_token', 'head_dist'))}
    with pytest.raises(CheckpointError, match="plain.pth: not a G2SD reference distilled.*"
                                              "'dist_token', 'head_dist.weight'"):
        convert(_save(tmp_path / 'plain.pth', plain), 'deit-tiny')


class _Args:
    """Stands for the ``argparse.Namespace`` the reference pickles into its files."""
