"""Bad input that used to pass silently: non-finite predictions in evaluation,
COCO annotations that point nowhere, distiller arguments that cannot train or
have the wrong type, misspelt top-level config keys. Each is an error naming the
file, key or sample. (The real tools: test_tools/test_bad_input_tools.py.)"""
import argparse
import json
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.structures import InstanceData, PixelData

from g2sd_mm.engine import FiniteOutputsHook
from g2sd_mm.engine.config_keys import check_top_level_keys, closest_runner_key
from g2sd_mm.engine.launch import add_finite_outputs_hook
from test_faults import DISTILLER, _coco_dataset, build, distiller_cfg, tiny_data  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


# --------------------------------------------- non-finite model outputs (eval)
def _cls_sample(score):
    from mmpretrain.structures import DataSample
    sample = DataSample(metainfo=dict(sample_idx=7, img_path='val/circle/3.png'))
    return sample.set_pred_score(score)


def _det_sample(bboxes):
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(img_path='val/00002.png'))
    sample.pred_instances = InstanceData(bboxes=bboxes, scores=torch.ones(len(bboxes)),
                                         labels=torch.zeros(len(bboxes), dtype=torch.long))
    return sample


def _seg_sample(logits):
    from mmseg.structures import SegDataSample
    sample = SegDataSample(metainfo=dict(img_path='images/val/00001.png'))
    sample.seg_logits = PixelData(data=logits)
    sample.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
    return sample


NAN_PREDICTIONS = {
    'cls': (lambda: [_cls_sample(torch.tensor([0.5, 0.5])),
                     _cls_sample(torch.tensor([float('nan')] * 2))],
            r'sample 1 of the batch, dataset index 7 \(val/circle/3\.png\): NaN/Inf in '
            r'pred_score \(2 value\(s\)\)'),
    'det': (lambda: [_det_sample(torch.tensor([[0., 0., 4., 4.], [1., float('inf'), 2., 3.]]))],
            r'sample 0 of the batch \(val/00002\.png\): NaN/Inf in pred_instances\.bboxes '
            r'\(1 value\(s\)\)'),
    'seg': (lambda: [_seg_sample(torch.full((3, 4, 4), float('nan')))],
            r'sample 0 of the batch \(images/val/00001\.png\): NaN/Inf in seg_logits\.data '
            r'\(48 value\(s\)\)'),
}


@pytest.mark.parametrize('task', sorted(NAN_PREDICTIONS))
@pytest.mark.parametrize('mode', ['val', 'test'])
def test_non_finite_predictions_stop_evaluation(task, mode):
    make, expected = NAN_PREDICTIONS[task]
    hook = FiniteOutputsHook()
    after_iter = getattr(hook, f'after_{mode}_iter')
    loop = dict(val='validation', test='test')[mode]
    with pytest.raises(FloatingPointError, match=f'^non-finite model output in {loop} batch 3, '
                       + expected):
        after_iter(None, 3, None, make())


def test_finite_predictions_pass():
    hook = FiniteOutputsHook()
    hook.after_test_iter(None, 0, None, [_cls_sample(torch.tensor([0.2, 0.8])),
                                         _det_sample(torch.zeros(0, 4)),
                                         _seg_sample(torch.zeros(3, 4, 4))])


def test_tools_add_the_hook_once():
    cfg = Config(dict(custom_hooks=[dict(type='RandomStateHook')]))
    add_finite_outputs_hook(add_finite_outputs_hook(cfg))
    assert [h['type'] for h in cfg.custom_hooks] == ['RandomStateHook', 'FiniteOutputsHook']


# ------------------------------------------ COCO annotations pointing nowhere
def test_coco_annotations_with_missing_image_or_category(tiny_data):  # noqa: F811
    path = osp.join(tiny_data, 'coco', 'annotations', 'instances_train.json')
    with open(path) as f:
        content = json.load(f)
    total = len(content['annotations'])
    orphan, unknown = content['annotations'][0], content['annotations'][-1]
    orphan['image_id'] = 999
    unknown['category_id'] = 99
    with open(path, 'w') as f:
        json.dump(content, f)
    with pytest.raises(ValueError, match=re.escape(
            f'{path}: 2 of {total} annotation(s) refer to an image or category the file does '
            f'not list (they would be dropped silently); annotation id(s): '
            f"{orphan['id']} (image_id 999); {unknown['id']} (category_id 99)")):
        _coco_dataset(tiny_data)


# --------------------------------------------- distiller arguments that cannot train
@pytest.mark.parametrize('kwargs, message', [
    (dict(mask_ratio=0.0, supervise='masked'), "supervise='masked' needs mask_ratio > 0"),
    (dict(projector_hidden=0), 'projector_hidden must be >= 1, got 0'),
])
def test_generic_distiller_refuses_settings_without_gradient(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build('gd', distiller_cfg('gd', **kwargs))


def test_generic_distiller_without_masking_still_supervises_all_tokens():
    build('gd', distiller_cfg('gd', mask_ratio=0.0, supervise='all'))


# ------------------------------------------------- distiller argument types
def _cfg_option(text):
    """``--cfg-options text`` as mmengine parses it."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', text]).cfg_options


@pytest.mark.parametrize('stage, option, expected', [
    ('gd', 'model.mask_ratio=0,75', "argument 'mask_ratio' must be a number (float), got list "
     '[0, 75] (on the command line a comma makes a list: write a decimal point, e.g. 0.75)'),
    ('gd', 'model.target_layer=2.5', "argument 'target_layer' must be an integer, got float "
     '2.5'),
    ('gd', 'model.supervise=1', "argument 'supervise' must be a string, got int 1"),
    ('cls', 'model.distill_weight=[0.5]', "argument 'distill_weight' must be a number (float), "
     'got list [0.5]'),
    ('det', 'model.warmup_iters=1e3', "argument 'warmup_iters' must be an integer, got float "
     '1000.0'),
    ('seg', 'model.check_finite=0', "argument 'check_finite' must be a boolean (True/False), "
     'got int 0'),
    ('seg', 'model.teacher_ckpt=1', "argument 'teacher_ckpt' must be a string or None, got "
     'int 1'),
])
def test_distiller_argument_of_the_wrong_type_names_key_and_type(stage, option, expected):
    key, value = next(iter(_cfg_option(option).items()))
    cfg = distiller_cfg(stage, **{key.split('.', 1)[1]: value})
    with pytest.raises(TypeError, match='^' + re.escape(f'{DISTILLER[stage]}: {expected}')):
        build(stage, cfg)


def test_integers_are_numbers():
    build('gd', distiller_cfg('gd', mask_ratio=0, target_layer=1))  # int for a float argument


# ------------------------------------------------ misspelt top-level keys
@pytest.mark.parametrize('key, closest', [
    ('lod_from', 'load_from'), ('laod_from', 'load_from'), ('resum', 'resume'),
    ('custom_hook', 'custom_hooks'), ('optim_wraper', 'optim_wrapper'),
    ('val_evaluater', 'val_evaluator'), ('work_dirs', 'work_dir'),
])
def test_near_miss_of_a_runner_key_is_refused(key, closest):
    assert closest_runner_key(key) == closest
    cfg = Config(dict(model=dict(type='X'), data_root='data/', **{key: 'x'}))
    with pytest.raises(ValueError, match='^' + re.escape(
            f"my_config.py: unknown top-level config key(s) '{key}' (did you mean "
            f"'{closest}'?). mmengine's Runner would ignore them.")):
        check_top_level_keys(cfg, 'my_config.py')


def test_config_variables_keep_working():
    """Variables far from every Runner key, or used as keys inside the config."""
    cfg = Config(dict(
        model=dict(type='X', train_cfg=dict(a=1)), data_root='data/', img_scale=(64, 64),
        max_epochs=3, train_pipeline=[], backend_args=None, dataset_type='X', norm_cfg={},
        seed=1, test_cfgs=[], train_dataloader=dict(dataset=dict(test_cfgs=1))))
    check_top_level_keys(cfg, 'my_config.py')
    assert closest_runner_key('data_root') is None and closest_runner_key('seed') is None


@pytest.mark.parametrize('path', [
    'configs/pretrain/g2sd_vit-tiny-p8_gd_1xb32-8e_shapes.py',
    'configs/cls/g2sd_vit-32d_cls_1xb32-10e_shapes.py',
    'tests/configs/maskrcnn_tiny_shapes.py',
    'tests/configs/upernet_tiny_shapes.py',
])
def test_shipped_configs_have_no_near_miss_keys(path):
    check_top_level_keys(Config.fromfile(osp.join(ROOT, path)), path)
