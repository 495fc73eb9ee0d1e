"""The G2SD reference's segmentation checkpoints (mmseg 0.x, its BEiT-style MAE
backbone with the pyramid inside) -> g2sd_mm UperNets, on hand-made files."""
import runpy
import sys

import pytest
import torch
from seg_models import ROOT, build_ours, write_tiny_config
from timm.layers import gen_relative_position_index

from g2sd_mm.checkpoint.layouts.beit_mmseg0x import (is_reference_seg_layout,
                                                     reference_seg_to_g2sd, select_part)
from g2sd_mm.checkpoint.layouts.mmseg import is_mmseg_mae_layout
from g2sd_mm.checkpoint.segmentor_target import check_segmentor_state
from g2sd_mm.checkpoint import CheckpointError, state_dict_problems
from g2sd_mm.checkpoint import state_dict_from_file

DEPTH, GRID = 4, 4


def _reference_segmentor(dim, heads, seed=0):
    """A reference UperNet state dict: backbone keys and shapes as the
    reference's ``MAE`` (patch 16, rel-pos bias, layer scale, fpn1-4 inside)
    writes them, heads as mmseg's UPerHead / FCNHead (same names in 0.x)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    rows = (2 * GRID - 1) ** 2 + 3
    state = {'backbone.cls_token': r(1, 1, dim), 'backbone.pos_embed': r(1, 1 + GRID ** 2, dim),
             'backbone.patch_embed.proj.weight': r(dim, 3, 16, 16),
             'backbone.patch_embed.proj.bias': r(dim)}
    for i in range(DEPTH):
        p = f'backbone.blocks.{i}.'
        state.update({
            p + 'gamma_1': r(dim), p + 'gamma_2': r(dim),
            p + 'norm1.weight': r(dim), p + 'norm1.bias': r(dim),
            p + 'attn.qkv.weight': r(3 * dim, dim), p + 'attn.qkv.bias': r(3 * dim),
            p + 'attn.relative_position_bias_table': r(rows, heads),
            p + 'attn.relative_position_index': gen_relative_position_index(
                (GRID, GRID), class_token=True),
            p + 'attn.proj.weight': r(dim, dim), p + 'attn.proj.bias': r(dim),
            p + 'norm2.weight': r(dim), p + 'norm2.bias': r(dim),
            p + 'mlp.fc1.weight': r(4 * dim, dim), p + 'mlp.fc1.bias': r(4 * dim),
            p + 'mlp.fc2.weight': r(dim, 4 * dim), p + 'mlp.fc2.bias': r(dim)})
    state.update({
        'backbone.fpn1.0.weight': r(dim, dim, 2, 2), 'backbone.fpn1.0.bias': r(dim),
        'backbone.fpn1.1.weight': r(dim), 'backbone.fpn1.1.bias': r(dim),
        'backbone.fpn1.1.running_mean': r(dim), 'backbone.fpn1.1.running_var': r(dim).abs(),
        'backbone.fpn1.1.num_batches_tracked': torch.tensor(160000),
        'backbone.fpn1.3.weight': r(dim, dim, 2, 2), 'backbone.fpn1.3.bias': r(dim),
        'backbone.fpn2.0.weight': r(dim, dim, 2, 2), 'backbone.fpn2.0.bias': r(dim)})
    heads_of = build_ours(dim, DEPTH, heads, GRID * 16).state_dict()
    state.update({k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v
                  for k, v in heads_of.items()
                  if k.startswith(('decode_head.', 'auxiliary_head.'))})
    return state


@pytest.fixture(scope='module')
def student():
    return _reference_segmentor(32, 2, seed=0)


@pytest.fixture(scope='module')
def teacher():
    return _reference_segmentor(48, 3, seed=1)


def test_teacher_file_every_key_used_every_target_filled(teacher):
    assert is_reference_seg_layout(teacher) and not is_mmseg_mae_layout(teacher)
    converted = reference_seg_to_g2sd(teacher, source='teacher.pth')
    assert len(converted) == len(teacher) - DEPTH  # the index buffers
    ours = build_ours(48, DEPTH, 3, GRID * 16)
    assert state_dict_problems(ours.state_dict(), converted) == []
    ours.load_state_dict(converted, strict=True)
    pairs = [('backbone.blocks.2.ls1.gamma', 'backbone.blocks.2.gamma_1'),
             ('backbone.blocks.3.rel_pos.relative_position_bias_table',
              'backbone.blocks.3.attn.relative_position_bias_table'),
             ('backbone.blocks.0.attn.qkv.bias', 'backbone.blocks.0.attn.qkv.bias'),
             ('neck.upsample_4x.0.weight', 'backbone.fpn1.0.weight'),
             ('neck.upsample_4x.1.running_var', 'backbone.fpn1.1.running_var'),
             ('neck.upsample_4x.1.num_batches_tracked', 'backbone.fpn1.1.num_batches_tracked'),
             ('neck.upsample_4x.3.bias', 'backbone.fpn1.3.bias'),
             ('neck.upsample_2x.0.weight', 'backbone.fpn2.0.weight'),
             ('decode_head.conv_seg.weight', 'decode_head.conv_seg.weight')]
    own = ours.state_dict()
    for ours_key, ref_key in pairs:
        assert torch.equal(own[ours_key], teacher[ref_key]), ours_key


def test_distillation_checkpoint_parts(student, teacher):
    wrapped = {**{'student.' + k: v for k, v in student.items()},
               **{'teacher.' + k: v for k, v in teacher.items()}}
    assert is_reference_seg_layout(wrapped)
    assert select_part(wrapped, None, 'd.pth').keys() == student.keys()
    assert select_part(wrapped, 'teacher', 'd.pth').keys() == teacher.keys()
    ddp = {'module.' + k: v for k, v in wrapped.items()}
    assert select_part(ddp, 'student', 'd.pth').keys() == student.keys()
    with pytest.raises(CheckpointError, match=r'plain\.pth is a plain segmentor checkpoint'):
        select_part(teacher, 'teacher', 'plain.pth')
    only_student = {'student.' + k: v for k, v in student.items()}
    with pytest.raises(CheckpointError, match=r's\.pth: a distillation checkpoint without '
                                              r'teacher\.\* keys'):
        select_part(only_student, 'teacher', 's.pth')


def test_leftovers_are_named(student):
    with pytest.raises(CheckpointError, match=r'shared by all blocks.*'
                                              r'backbone\.rel_pos_bias\.relative_position'):
        reference_seg_to_g2sd({**student, 'backbone.rel_pos_bias.relative_position_bias_table':
                               torch.zeros(52, 2)}, source='shared.pth')
    qv = {f'backbone.blocks.{i}.attn.q_bias': torch.zeros(32) for i in range(DEPTH)}
    with pytest.raises(CheckpointError, match=r'beit\.pth: 4 key\(s\).*q_bias/v_bias.*'
                                              r'backbone\.blocks\.\{0-3\}\.attn\.q_bias'):
        reference_seg_to_g2sd({**student, **qv}, source='beit.pth')
    p8 = {k.replace('fpn2.0', 'fpn3.0'): v for k, v in student.items()}
    with pytest.raises(CheckpointError, match=r'another patch size.*backbone\.fpn3\.0\.bias'):
        reference_seg_to_g2sd(p8, source='p8.pth')
    bad = dict(student)
    bad['backbone.blocks.2.attn.relative_position_index'] = torch.zeros(17, 17, dtype=torch.long)
    with pytest.raises(CheckpointError, match=r'blocks\.2\.attn\.relative_position_index is not '
                                              r'the BEiT relative-position index of a 4x4'):
        reference_seg_to_g2sd(bad, source='bad.pth')


def test_wrong_architecture_is_refused(tmp_path, student):
    config = write_tiny_config(str(tmp_path / 'vit48.py'), 48, DEPTH, 3, GRID * 16)
    with pytest.raises(CheckpointError, match=r'vit32\.pth does not match the segmentor .*'
                                              r'shape mismatch.*backbone\.blocks\.0\.attn'):
        check_segmentor_state(reference_seg_to_g2sd(student), config, source='vit32.pth')
    # no config of that width: name it
    with pytest.raises(ValueError, match='backbone width 32 has no UperNet config'):
        check_segmentor_state(reference_seg_to_g2sd(student), None, source='vit32.pth')


def test_converter_command_writes_both_parts(tmp_path, monkeypatch, student, teacher):
    src = tmp_path / 'distill.pth'
    wrapped = {**{'student.' + k: v for k, v in student.items()},
               **{'teacher.' + k: v for k, v in teacher.items()}}
    torch.save(dict(state_dict=wrapped, meta=dict(CLASSES=('wall', 'floor'), iter=160000)), src)
    tool = f'{ROOT}/tools/model_converters/g2sd_reference_seg_to_g2sd.py'
    for part, dim, heads, ref in (('student', 32, 2, student), ('teacher', 48, 3, teacher)):
        config = write_tiny_config(str(tmp_path / f'{part}.py'), dim, DEPTH, heads, GRID * 16)
        dst = tmp_path / f'{part}_g2sd.pth'
        monkeypatch.setattr(sys, 'argv', ['convert', str(src), str(dst), '--part', part,
                                          '--config', config])
        runpy.run_path(tool, run_name='__main__')
        out = state_dict_from_file(str(dst))
        assert torch.equal(out['backbone.blocks.1.ls2.gamma'], ref['backbone.blocks.1.gamma_2'])
        model = build_ours(dim, DEPTH, heads, GRID * 16)
        model.load_state_dict(out, strict=True)


class _WritesFile:
    """Unpickling this object would create a file (stands for code in a checkpoint)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, 'w')


@pytest.mark.parametrize('tool', ['g2sd_reference_seg_to_g2sd.py', 'mmseg_mae_to_g2sd.py'])
def test_converters_refuse_pickled_code(tmp_path, monkeypatch, student, tool):
    victim, src, dst = tmp_path / 'pwned.txt', tmp_path / 'evil.pth', tmp_path / 'out.pth'
    torch.save(dict(state_dict=student, meta=_WritesFile(str(victim))), src)
    monkeypatch.setattr(sys, 'argv', [tool, str(src), str(dst)])
    with pytest.raises(CheckpointError, match=r'evil\.pth: refused to unpickle.*--trust-pickle'):
        runpy.run_path(f'{ROOT}/tools/model_converters/{tool}', run_name='__main__')
    assert not victim.exists() and not dst.exists()
