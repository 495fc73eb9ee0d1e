"""bf16 teachers: the full-size stage-2 configs use them, and the targets stay close."""
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FULL_SIZE = ['configs/cls/g2sd_vits_cls.py', 'configs/cls/g2sd_vitt_cls.py',
             'configs/det/g2sd_vits_maskrcnn.py', 'configs/det/g2sd_vitt_maskrcnn.py',
             'configs/seg/g2sd_vits_upernet.py', 'configs/seg/g2sd_vitt_upernet.py']
DEMO = {
    'gd': ('configs/pretrain/g2sd_vit-tiny-p8_gd_1xb32-8e_shapes.py', 32),
    'cls': ('configs/cls/g2sd_vit-32d_cls_1xb32-10e_shapes.py', 32),
    'det': ('configs/det/g2sd_vit-32d_mask-rcnn_1xb2-300it_shapes.py', 64),
    'seg': ('configs/seg/g2sd_vit-32d_upernet_1xb4-400it_shapes.py', 64),
}
# bf16 keeps 8 mantissa bits (relative step 2^-8 = 0.4%); through a few
# layers the targets of the seeded demo models move by at most ~1.3% of their
# largest magnitude (~0.8% on average), the distillation losses by < 0.2%.
MAX_REL, MEAN_REL, LOSS_REL = 0.03, 0.02, 0.01


@pytest.mark.parametrize('path', FULL_SIZE)
def test_full_size_stage2_configs_run_the_teacher_in_bf16(path):
    assert Config.fromfile(osp.join(ROOT, path)).model.teacher_autocast == 'bfloat16'


@pytest.mark.parametrize('stage', ['gd', 'cls', 'det', 'seg'])
def test_demo_configs_keep_an_fp32_teacher(stage):
    # the demo configs' results (and the parity tests) must not change silently
    model = Config.fromfile(osp.join(ROOT, DEMO[stage][0])).model
    assert model.get('teacher_autocast') is None


@pytest.fixture(scope='module')
def precision_tool():
    spec = importlib.util.spec_from_file_location(
        'g2sd_teacher_precision', osp.join(ROOT, 'tools', 'analysis', 'teacher_precision.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('stage', ['gd', 'cls', 'det', 'seg'])
def test_bf16_teacher_targets_within_tolerance(precision_tool, stage):
    config, size = DEMO[stage]
    result = precision_tool.compare(precision_tool.parse_args(
        ['--stage', stage, '--config', config, '--img-size', str(size), '--threads', '1']))
    assert result['targets']
    for name, t in result['targets'].items():
        assert t['max_abs_diff'] > 0, f'{name}: the bf16 teacher did not run in bf16'
        assert t['max_abs_diff'] <= MAX_REL * t['max_abs_target'], (name, t)
        assert t['mean_abs_diff'] <= MEAN_REL * t['mean_abs_target'], (name, t)
    assert result['loss_fp32'] and result['loss_fp32'].keys() == result['loss_low'].keys()
    for key, rel in result['loss_rel_diff'].items():
        assert rel <= LOSS_REL, (key, result['loss_fp32'][key], result['loss_low'][key])
