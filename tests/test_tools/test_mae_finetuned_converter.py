"""tools/model_converters/mae_finetuned_to_mmpretrain.py: the official MAE
fine-tuned classifier layout -> an mmpretrain checkpoint that loads strictly."""
import importlib.util
import os.path as osp
import re

import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import g2sd_mm  # noqa: F401  (registers G2SDViT)
from g2sd_mm.checkpoint import check_checkpoint_fits
from g2sd_mm.checkpoint.layouts.mae import CLASSIFIER_PAIRS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEACHER = dict(
    type='ImageClassifier',
    backbone=dict(type='G2SDViT', arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                            feedforward_channels=128),
                  img_size=32, patch_size=8, out_type='avg_featmap', final_norm=False),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=32,
              loss=dict(type='CrossEntropyLoss')))


def _tool():
    spec = importlib.util.spec_from_file_location('mae_finetuned_to_mmpretrain', osp.join(
        ROOT, 'tools', 'model_converters', 'mae_finetuned_to_mmpretrain.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _official(state):
    """mmpretrain keys renamed to the official layout (``CLASSIFIER_PAIRS`` backwards)."""
    out = {}
    for key, value in state.items():
        for official, mm in CLASSIFIER_PAIRS:
            pattern = re.escape(mm).replace(r'\{i\}', r'(?P<i>\d+)').replace(
                r'\{w\}', r'(?P<w>weight|bias)') + '$'
            m = re.match(pattern, key)
            if m:
                out[official.format(**m.groupdict())] = value
                break
        else:
            raise AssertionError(f'no official name for {key}')
    return out


def test_official_classifier_converts_and_fits(tmp_path, capsys):
    init_default_scope('mmpretrain')
    model = MODELS.build(TEACHER)
    src, dst = tmp_path / 'mae_finetuned.pth', tmp_path / 'mm.pth'
    torch.save(dict(model=_official(model.state_dict())), src)
    assert _tool().main([str(src), str(dst)]) == 0
    converted = torch.load(dst, weights_only=True)['state_dict']
    for name, value in model.state_dict().items():
        torch.testing.assert_close(converted[name], value)
    check_checkpoint_fits(model, str(dst))
    # an mmpretrain checkpoint is not an official one: refused, naming the file
    assert _tool().main([str(dst), str(tmp_path / 'again.pth')]) == 2
    assert f'{dst}: not an official-layout ViT classifier' in capsys.readouterr().err
