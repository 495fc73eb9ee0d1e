"""Faults and bad input across the G2SD stages: generic distillation
(``gd``, mmpretrain), classification (``cls``, mmpretrain; model-level
faults, its datasets are those of ``gd``), detection (``det``, mmdet) and
segmentation (``seg``, mmseg). Each must stop with an error that names the problem and the file or
config key, never train or evaluate on silently wrong data.

Covered here, next to the unit tests elsewhere (not repeated here):

1. truncated checkpoints as ``teacher_ckpt``, ``student_ckpt``, a backbone's
   ``init_cfg=dict(type='Pretrained')`` (ours and mmengine's) and as
   ``resume``/``load_from`` (also in test_mae_checkpoint.py and
   test_safe_checkpoint.py at the loader level);
2. checkpoints of another architecture (the det/seg teacher cases are in
   test_frs_distillation.py / test_cwd_distillation.py, the loaders in
   test_mae_checkpoint.py, test_vitdet.py, test_vit_rel_pos.py);
3. corrupted images (garbage / truncated through the stock loaders:
   test_shapes.py; label maps: test_checked_datasets.py);
4. empty datasets;
5. a NaN loss inside a real mmengine Runner;
6. label maps with values outside the classes, through the shipped pipeline
   (the transform itself: test_checked_datasets.py);
7. misspelt distiller arguments and nested config keys.
"""
import copy
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from PIL import Image

from g2sd_mm.datasets import CheckedBaseSegDataset, CheckedCustomDataset, SampleError
from g2sd_mm.datasets import checked_dataset
from g2sd_mm.demo import DET_METAINFO, SEG_METAINFO, generate_shapes
from g2sd_mm.checkpoint import CheckpointError, check_checkpoint_fits, load_checkpoint_file

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_DET = osp.join(ROOT, 'tests', 'configs', 'maskrcnn_tiny_shapes.py')
TINY_SEG = osp.join(ROOT, 'tests', 'configs', 'upernet_tiny_shapes.py')
SEG_DATA_CFG = osp.join(ROOT, 'configs', '_base_', 'datasets', 'shapes-seg.py')
STAGES = ['gd', 'det', 'seg']  # one dataset type each
DISTILL_STAGES = ['gd', 'cls', 'det', 'seg']

# tiny MAE teacher / student of generic distillation (32 px, patch 8)
GD_TEACHER = dict(type='MaskedAutoencoderViT', arch=dict(embed_dim=32, depth=2, num_heads=2),
                  img_size=32, patch_size=8, decoder_embed_dim=16, decoder_depth=4,
                  decoder_num_heads=2)
GD_STUDENT = dict(type='MaskedAutoencoderViT', arch=dict(embed_dim=16, depth=2, num_heads=2),
                  img_size=32, patch_size=8, decoder_embed_dim=8, decoder_depth=2,
                  decoder_num_heads=2)
# tiny teacher / distillation-token student classifiers (32 px, 4 classes)
_SMOOTH = dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
CLS_STUDENT = dict(
    type='ImageClassifier',
    backbone=dict(type='G2SDDistilledViT', img_size=32, patch_size=8, out_type='cls_token',
                  arch=dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=64)),
    head=dict(type='DeiTClsHead', num_classes=4, in_channels=16, loss=_SMOOTH),
    data_preprocessor=dict(num_classes=4, mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True))
CLS_TEACHER = dict(
    type='ImageClassifier',
    backbone=dict(type='G2SDViT', img_size=32, patch_size=8, out_type='avg_featmap',
                  final_norm=False,
                  arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=128)),
    head=dict(type='LinearClsHead', num_classes=4, in_channels=32, loss=_SMOOTH))
SCOPE = dict(gd='mmpretrain', cls='mmpretrain', det='mmdet', seg='mmseg')
DISTILLER = dict(gd='GenericDistiller', cls='ClassificationDistiller',
                 det='DetectionDistiller', seg='SegmentationDistiller')


# ------------------------------------------------------------------ helpers
def truncate(path, keep=0.5):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * keep)])
    return str(path)


def registry(stage):
    if stage in ('gd', 'cls'):
        from mmpretrain.registry import MODELS
    elif stage == 'det':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    return MODELS


def task_model(stage):
    """The tiny det / seg model config and its data preprocessor."""
    cfg = Config.fromfile(TINY_DET if stage == 'det' else TINY_SEG)
    model = copy.deepcopy(cfg.model)
    return model, model.pop('data_preprocessor')


def distiller_cfg(stage, **kwargs):
    if stage == 'gd':
        cfg = dict(type='GenericDistiller', student=copy.deepcopy(GD_STUDENT),
                   teacher=copy.deepcopy(GD_TEACHER), target_layer=2, projector_hidden=16)
    elif stage == 'cls':
        cfg = dict(type='ClassificationDistiller', student=copy.deepcopy(CLS_STUDENT),
                   teacher=copy.deepcopy(CLS_TEACHER))
    else:
        model, pre = task_model(stage)
        cfg = dict(type=DISTILLER[stage], student=model, teacher=copy.deepcopy(model),
                   data_preprocessor=pre)
    cfg.update(kwargs)
    return cfg


def build(stage, cfg):
    """Build in the stage's scope without changing the process's default scope
    (module fixtures call this too, outside any per-test scope restore)."""
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(SCOPE[stage]):
        return registry(stage).build(copy.deepcopy(cfg))


def save_teacher(stage, path):
    """A teacher checkpoint that fits ``distiller_cfg(stage)``."""
    if stage == 'gd':
        from g2sd_mm.models import MaskedAutoencoderViT
        kwargs = {k: v for k, v in GD_TEACHER.items() if k != 'type'}
        torch.save(dict(model=MaskedAutoencoderViT(**kwargs).state_dict()), path)
    elif stage == 'cls':
        torch.save(dict(state_dict=build(stage, CLS_TEACHER).state_dict()), path)
    else:
        model, _ = task_model(stage)
        torch.save(dict(state_dict=build(stage, model).state_dict()), path)
    return str(path)


@pytest.fixture(scope='module')
def teacher_ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp('teachers')
    return {stage: save_teacher(stage, root / f'{stage}_teacher.pth')
            for stage in DISTILL_STAGES}


@pytest.fixture
def tiny_data(tmp_path):
    """A small private copy of the shapes data that a test may damage."""
    root = str(tmp_path / 'shapes')
    generate_shapes(root, num_cls_train=4, num_cls_val=4, num_scene_train=2, num_scene_val=2)
    return root


def get_item(dataset, index, scope):
    with DefaultScope.overwrite_default_scope(scope):
        return dataset[index]


# ---------------------------------------------------- a real mmengine Runner
GD_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)),
               dict(type='PackInputs')]


def runner_cfg(stage, data_root, work_dir, teacher_ckpt, iters=3):
    """A runnable config: the tiny distiller of ``stage`` on the shapes data."""
    work_dir = str(work_dir)
    if stage == 'gd':
        cfg = Config(dict(
            default_scope='mmpretrain',
            model=distiller_cfg('gd', teacher_ckpt=teacher_ckpt, data_preprocessor=dict(
                type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375], to_rgb=True)),
            train_dataloader=dict(
                batch_size=4, num_workers=0, collate_fn=dict(type='default_collate'),
                sampler=dict(type='InfiniteSampler', shuffle=False),
                dataset=dict(type='CustomDataset', data_root=osp.join(data_root, 'cls'),
                             ann_file='meta/train.txt', data_prefix='train',
                             pipeline=GD_PIPELINE)),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
            log_processor=dict(by_epoch=False),
            env_cfg=dict(dist_cfg=dict(backend='gloo'))))
    elif stage == 'cls':
        cfg = Config(dict(
            default_scope='mmpretrain',
            model=distiller_cfg('cls', teacher_ckpt=teacher_ckpt),
            train_dataloader=dict(
                batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=False),
                dataset=dict(type='CustomDataset', data_root=osp.join(data_root, 'cls'),
                             ann_file='meta/train.txt', data_prefix='train',
                             pipeline=GD_PIPELINE)),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
            log_processor=dict(by_epoch=False),
            env_cfg=dict(dist_cfg=dict(backend='gloo'))))
    else:
        cfg = Config.fromfile(TINY_DET if stage == 'det' else TINY_SEG)
        cfg.model = distiller_cfg(stage, teacher_ckpt=teacher_ckpt)
        cfg.train_dataloader.dataset.data_root = osp.join(data_root, stage if stage == 'seg'
                                                          else 'coco')
        cfg.train_dataloader.batch_size = 2
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
        cfg.visualizer.pop('name', None)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=0)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=1000)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=False)
    return cfg


def make_runner(cfg, hooks=()):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    for hook in hooks:
        runner.register_hook(hook)
    return runner


class PoisonLoss(Hook):
    """From iteration ``at`` on, one loss term of the model becomes NaN; the
    parameters, state dict and optimizer state just before are kept."""

    def __init__(self, at: int):
        self.at = at
        self.params = self.state = self.optim_state = None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter != self.at:
            return
        model = runner.model
        self.params = {k: p.detach().clone() for k, p in model.named_parameters()}
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.optim_state = _optim_state(runner)
        loss = model.loss

        def poisoned(*args, **kwargs):
            losses = loss(*args, **kwargs)
            key = next(k for k in losses if k == 'loss_gd' or k.startswith('distill.'))
            losses[key] = losses[key] * float('nan')
            return losses

        model.loss = poisoned


def _optim_state(runner):
    state = runner.optim_wrapper.optimizer.state_dict()['state']
    return {i: {k: torch.as_tensor(v).clone() for k, v in s.items()} for i, s in state.items()}


# ------------------------------------------- 1. truncated checkpoint files
@pytest.mark.parametrize('stage', DISTILL_STAGES)
def test_truncated_teacher_ckpt_names_the_file(stage, tmp_path):
    path = truncate(save_teacher(stage, tmp_path / 'teacher.pth'))
    with pytest.raises(CheckpointError, match=re.escape(path) + r': cannot read checkpoint '
                       r'\(truncated or not a torch checkpoint\?\)'):
        build(stage, distiller_cfg(stage, teacher_ckpt=path))


def test_truncated_student_ckpt_names_the_file(tmp_path):
    model = build('gd', distiller_cfg('gd'))
    path = tmp_path / 'gd_student.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    truncate(path)
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ': cannot read'):
        build('gd', distiller_cfg('gd', student_ckpt=str(path)))


def _vit_backbone(stage, **kwargs):
    """The ViT backbone of the det (ViTDet) or seg (ViTRelPos) students."""
    arch = dict(embed_dim=32, depth=2, num_heads=2)
    if stage == 'det':
        cfg = dict(type='ViTDet', arch=arch, img_size=64, pretrain_img_size=64,
                   window_size=4, global_attn_indexes=(1,))
    else:
        cfg = dict(type='ViTRelPos', arch=arch, img_size=64, patch_size=16, out_indices=(1,))
    cfg.update(kwargs)
    return build(stage, cfg)


def _mae_encoder_file(path, embed_dim=32, depth=2):
    """Encoder weights in the official MAE layout, as a backbone init checkpoint."""
    from g2sd_mm.models import MaskedAutoencoderViT
    mae = MaskedAutoencoderViT(dict(embed_dim=embed_dim, depth=depth, num_heads=2),
                               img_size=64, patch_size=16, decoder_embed_dim=16,
                               decoder_depth=1, decoder_num_heads=2)
    torch.save(dict(model=mae.state_dict()), path)
    return str(path)


@pytest.mark.parametrize('stage', ['det', 'seg'])
def test_truncated_pretrained_init_cfg_names_the_file(stage, tmp_path):
    path = truncate(_mae_encoder_file(tmp_path / 'init.pth'))
    backbone = _vit_backbone(stage, init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(CheckpointError, match=re.escape(path) + ': cannot read checkpoint'):
        backbone.init_weights()


def test_truncated_file_through_mmengine_pretrained_init(tmp_path):
    """Stock backbones (e.g. mmpretrain's VisionTransformer) load ``Pretrained``
    through mmengine's ``load_checkpoint``, which g2sd_mm routes through its
    safe loader: the error names the file."""
    from mmpretrain.models import VisionTransformer
    arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    path = tmp_path / 'vit.pth'
    torch.save(dict(state_dict=VisionTransformer(arch=arch, img_size=32,
                                                 patch_size=8).state_dict()), path)
    truncate(path)
    vit = VisionTransformer(arch=arch, img_size=32, patch_size=8,
                            init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ': cannot read'):
        vit.init_weights()


@pytest.mark.parametrize('resume', [True, False], ids=['resume', 'load_from'])
def test_truncated_resume_or_load_from_names_the_file(resume, tmp_path, shapes_root,
                                                      teacher_ckpts):
    cfg = runner_cfg('gd', shapes_root, tmp_path / 'work', teacher_ckpts['gd'], iters=1)
    make_runner(copy.deepcopy(cfg)).train()
    path = truncate(tmp_path / 'work' / 'iter_1.pth')
    cfg.resume, cfg.load_from, cfg.work_dir = resume, path, str(tmp_path / 'again')
    runner = make_runner(cfg)
    with pytest.raises(CheckpointError, match=re.escape(path) + ': cannot read checkpoint'):
        runner.train()
    assert runner.iter == 0


# --------------------------------------- 2. checkpoint of another architecture
def test_gd_teacher_of_another_depth_names_the_keys(tmp_path):
    deep = copy.deepcopy(GD_TEACHER)
    deep['arch'] = dict(embed_dim=32, depth=3, num_heads=2)
    path = tmp_path / 'deep_teacher.pth'
    torch.save(dict(model=build('gd', deep).state_dict()), path)
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + r': \d+ unexpected key\(s\) '
                       r'for the teacher: blocks\.2\.'):
        build('gd', distiller_cfg('gd', teacher_ckpt=str(path)))


def test_gd_student_ckpt_of_another_arch_names_the_shapes(tmp_path):
    wide = copy.deepcopy(GD_STUDENT)
    wide['arch'] = dict(embed_dim=24, depth=2, num_heads=2)
    path = tmp_path / 'wide_student.pth'
    torch.save(dict(model=build('gd', wide).state_dict()), path)
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + r': \d+ shape mismatch'
                       r'\(es\) for the student \(wrong architecture\?\).*\(1, 1, 24\) vs '
                       r'model \(1, 1, 16\)'):
        build('gd', distiller_cfg('gd', student_ckpt=str(path)))


@pytest.mark.parametrize('stage', ['det', 'seg'])
def test_student_backbone_init_from_another_arch(stage, tmp_path):
    path = _mae_encoder_file(tmp_path / 'wide.pth', embed_dim=48)
    backbone = _vit_backbone(stage, init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(CheckpointError, match=re.escape(path) + r': cannot load into '
                       r'\w+ \(embed_dim=32, depth=2\).*shape mismatch'):
        backbone.init_weights()


@pytest.mark.parametrize('stage', ['det', 'seg'])
def test_load_from_of_another_config_is_refused_by_the_test_tool(stage, tmp_path,
                                                                  teacher_ckpts):
    """tools/test.py checks the checkpoint strictly (mmengine only warns)."""
    model = build(stage, distiller_cfg(stage))
    other = teacher_ckpts['seg' if stage == 'det' else 'det']
    with pytest.raises(CheckpointError, match=re.escape(other) + ' does not fit the model '
                       r'\(\w+Distiller\): \d+ missing key\(s\): .*unexpected key'):
        check_checkpoint_fits(model, other)
    student = tmp_path / 'student.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), student)
    check_checkpoint_fits(model, str(student))  # its own checkpoint fits


# ------------------------------------------------- 3. corrupted images
def _cls_dataset(data_root, **kwargs):
    kwargs.setdefault('ann_file', 'meta/train.txt')
    kwargs.setdefault('pipeline', [dict(type='LoadImageFromFile')])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return CheckedCustomDataset(data_root=osp.join(data_root, 'cls'), data_prefix='train',
                                    **kwargs)


def _seg_dataset(data_root, split='train', **kwargs):
    kwargs.setdefault('pipeline', [dict(type='LoadImageFromFile')])
    with DefaultScope.overwrite_default_scope('mmseg'):
        return CheckedBaseSegDataset(
            data_root=osp.join(data_root, 'seg'), img_suffix='.png', seg_map_suffix='.png',
            data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'),
            metainfo=SEG_METAINFO, **kwargs)


def _coco_dataset(data_root, **kwargs):
    from mmdet.registry import DATASETS
    kwargs.setdefault('pipeline', [dict(type='LoadImageFromFile')])
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(dict(
            type='CheckedCocoDataset', data_root=osp.join(data_root, 'coco'),
            ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
            metainfo=DET_METAINFO, **kwargs))


def _dataset(stage, data_root, **kwargs):
    return dict(gd=_cls_dataset, det=_coco_dataset, seg=_seg_dataset)[stage](data_root, **kwargs)


@pytest.mark.parametrize('stage', STAGES)
def test_empty_image_file_names_the_file(stage, tiny_data):
    """A zero-byte image: OpenCV's own error (``!buf.empty()``) names no file."""
    ds = _dataset(stage, tiny_data)
    path = ds.get_data_info(0)['img_path']
    open(path, 'wb').close()
    with pytest.raises(SampleError) as err:
        get_item(ds, 0, SCOPE[stage])
    assert str(err.value).startswith(f'{path}: cannot prepare sample 0 of ')
    assert '!buf.empty()' in str(err.value) and err.value.__cause__ is not None


@pytest.mark.parametrize('stage', STAGES)
def test_corrupted_image_decoded_with_pillow_names_the_file(stage, tiny_data):
    ds = _dataset(stage, tiny_data,
                  pipeline=[dict(type='LoadImageFromFile', imdecode_backend='pillow')])
    path = ds.get_data_info(1)['img_path']
    truncate(path, keep=0.3)
    with pytest.raises(SampleError, match=re.escape(path) + r': cannot prepare sample 1 of '
                       r'\w+ \(OSError: image file is truncated'):
        get_item(ds, 1, SCOPE[stage])


def test_corrupted_image_is_never_skipped_silently(tiny_data, monkeypatch):
    """Training: the stock loader raises (no refetch of another sample); only
    ``ignore_empty=True`` skips (files it cannot read; undecodable bytes still
    raise), and each skipped file is logged. Test mode: a dropped sample is an
    error naming the file."""
    ds = _cls_dataset(tiny_data)
    path = ds.get_data_info(0)['img_path']
    with open(path, 'wb') as f:
        f.write(b'not an image')
    assert not ds.test_mode
    with pytest.raises(AssertionError, match='failed to load image: ' + re.escape(path)):
        get_item(ds, 0, 'mmpretrain')

    open(path, 'wb').close()  # an empty file: mmcv's ignore_empty=True skips it
    skipping = _cls_dataset(tiny_data, pipeline=[
        dict(type='LoadImageFromFile', ignore_empty=True)])
    logged = []
    monkeypatch.setattr(checked_dataset, 'print_log', lambda msg, **kw: logged.append(msg))
    for _ in range(3):
        assert get_item(skipping, 0, 'mmpretrain')['img_path'] != path
    assert len(logged) == 1  # once per file
    assert logged[0].startswith(f'{path}: dropped by the CheckedCustomDataset pipeline')

    test_set = _cls_dataset(tiny_data, test_mode=True, pipeline=[
        dict(type='LoadImageFromFile', ignore_empty=True)])
    with pytest.raises(SampleError, match=re.escape(path) + ': the test pipeline of '
                       'CheckedCustomDataset dropped this sample'):
        get_item(test_set, 0, 'mmpretrain')


# ------------------------------------------------------- 4. empty datasets
def test_empty_annotation_file_gd(tiny_data):
    path = osp.join(tiny_data, 'cls', 'meta', 'train.txt')
    open(path, 'w').close()
    with pytest.raises(ValueError, match=re.escape(path) + ': empty CheckedCustomDataset, '
                       'the annotation file lists no samples'):
        _cls_dataset(tiny_data)


def test_empty_image_folder_gd_stock_message_names_it(tiny_data):
    folder = osp.join(tiny_data, 'cls', 'train')
    shutil.rmtree(folder)
    os.makedirs(osp.join(folder, 'circle'))
    with pytest.raises(RuntimeError, match='Found 0 files in subfolders of: .*'
                       + re.escape(folder)):
        _cls_dataset(tiny_data, ann_file='')


@pytest.mark.parametrize('how', ['empty_folder', 'wrong_suffix'])
def test_empty_image_folder_seg(tiny_data, how):
    folder = osp.join(tiny_data, 'seg', 'images', 'train')
    suffix = '.png'
    if how == 'empty_folder':
        for name in os.listdir(folder):
            os.remove(osp.join(folder, name))
    else:
        suffix = '.jpg'
    with pytest.raises(ValueError, match=re.escape(folder) + ': empty CheckedBaseSegDataset, '
                       f"no image files ending in '{re.escape(suffix)}' found there"):
        with DefaultScope.overwrite_default_scope('mmseg'):
            CheckedBaseSegDataset(
                data_root=osp.join(tiny_data, 'seg'), img_suffix=suffix, seg_map_suffix='.png',
                data_prefix=dict(img_path='images/train', seg_map_path='annotations/train'),
                metainfo=SEG_METAINFO, pipeline=[])


def test_coco_filter_leaving_no_image_det(tiny_data):
    path = osp.join(tiny_data, 'coco', 'annotations', 'instances_train.json')
    with open(path) as f:
        content = json.load(f)
    content['annotations'] = []
    with open(path, 'w') as f:
        json.dump(content, f)
    with pytest.raises(ValueError, match=re.escape(path) + r': empty CheckedCocoDataset, all 2 '
                       r"samples were removed by filter_cfg=\{'filter_empty_gt': True\}"):
        _coco_dataset(tiny_data, filter_cfg=dict(filter_empty_gt=True))
    assert len(_coco_dataset(tiny_data)) == 2  # without the filter: images without objects


def test_coco_without_images_det(tiny_data):
    path = osp.join(tiny_data, 'coco', 'annotations', 'instances_train.json')
    with open(path, 'w') as f:
        json.dump(dict(images=[], annotations=[], categories=[]), f)
    with pytest.raises(ValueError, match=re.escape(path) + ': "images" is empty'):
        _coco_dataset(tiny_data)


# --------------------------------------------- 5. NaN loss in a real Runner
@pytest.mark.parametrize('stage', DISTILL_STAGES)
def test_nan_loss_stops_the_runner_before_the_step(stage, tmp_path, shapes_root,
                                                   teacher_ckpts):
    work = tmp_path / 'work'
    poison = PoisonLoss(at=1)
    runner = make_runner(runner_cfg(stage, shapes_root, work, teacher_ckpts[stage]), [poison])
    with pytest.raises(FloatingPointError, match=r'non-finite loss, training stopped before '
                       r'the optimizer step \(no checkpoint is written from this state\)'):
        runner.train()
    assert runner.iter == 1  # the poisoned iteration did not complete
    # the weights and the optimizer state are those from before the bad step
    # (BN statistics of that forward pass aside) ...
    for key, value in runner.model.named_parameters():
        assert torch.equal(value, poison.params[key]), key
    state = _optim_state(runner)
    assert state.keys() == poison.optim_state.keys()
    for i, entry in state.items():
        for k, v in entry.items():
            assert torch.equal(v, poison.optim_state[i][k]), (i, k)
    # ... and only the checkpoint of the last good iteration exists
    assert [osp.basename(p) for p in glob.glob(str(work / '*.pth'))] == ['iter_1.pth']
    with open(work / 'last_checkpoint') as f:
        assert f.read().strip().endswith('iter_1.pth')
    saved = load_checkpoint_file(str(work / 'iter_1.pth'))['state_dict']
    assert all(torch.isfinite(v).all() for v in saved.values() if v.is_floating_point())
    assert saved.keys() == poison.state.keys()
    for key, value in saved.items():
        assert torch.equal(value, poison.state[key]), key


# ------------------------------------- 6. label values outside the classes
def test_shipped_seg_pipelines_refuse_out_of_range_labels(tiny_data):
    """The seg configs' train and test pipelines check the label values."""
    data_cfg = Config.fromfile(SEG_DATA_CFG)
    path = osp.join(tiny_data, 'seg', 'annotations', 'train', '00001.png')
    label = np.array(Image.open(path))
    label[:2, :3] = 9
    Image.fromarray(label).save(path)
    for pipeline in (data_cfg.train_pipeline, data_cfg.test_pipeline):
        ds = _seg_dataset(tiny_data, pipeline=pipeline)
        names = [osp.basename(ds.get_data_info(i)['seg_map_path']) for i in range(len(ds))]
        with pytest.raises(ValueError, match=re.escape(path) + r': label map holds value\(s\) 9 '
                           r'in 6 pixel\(s\); valid values are the class indices 0\.\.4 '
                           r'\(num_classes=5\) and the ignore index 255'):
            get_item(ds, names.index('00001.png'), 'mmseg')


# ------------------------------------------------ 7. misspelt config keys
@pytest.mark.parametrize('stage', DISTILL_STAGES)
def test_misspelt_distiller_argument(stage):
    cfg = distiller_cfg(stage, teacher_ckp='teacher.pth')
    with pytest.raises(TypeError, match=f"^{DISTILLER[stage]} got an unexpected keyword "
                       r"argument 'teacher_ckp' \(did you mean 'teacher_ckpt'\?\); valid "
                       'arguments: student, teacher, teacher_ckpt, '):
        build(stage, cfg)


@pytest.mark.parametrize('stage, key, loss, expected', [
    ('gd', 'loss', dict(type='FeatureDistillLoss', betaa=2.0), 'beta'),
    ('det', 'distill_loss', dict(type='FRSLoss', feat_weigth=1e-3), 'feat_weight'),
    ('seg', 'distill_loss', dict(type='ChannelWiseDivergence', tua=1.0), 'tau'),
])
def test_misspelt_distill_loss_key(stage, key, loss, expected):
    wrong = next(k for k in loss if k != 'type')
    with pytest.raises(TypeError, match=re.escape(
            f"{key} (type='{loss['type']}'): {loss['type']} got an unexpected keyword "
            f"argument '{wrong}' (did you mean '{expected}'?); valid arguments: ")):
        build(stage, distiller_cfg(stage, **{key: loss}))


def test_misspelt_distill_loss_type():
    with pytest.raises(KeyError, match=r"distill_loss: type 'FRSLos' is not in the "
                       r"mmdet::model registry \(did you mean 'FRSLoss'"):
        build('det', distiller_cfg('det', distill_loss=dict(type='FRSLos')))


def test_misspelt_key_inside_the_teacher_config():
    """Deeper keys: the error names the component and the class that refused it."""
    teacher = copy.deepcopy(GD_TEACHER)
    teacher['decoder_num_haeds'] = 2
    with pytest.raises(TypeError, match=re.escape(
            "teacher (type='MaskedAutoencoderViT'): MaskedAutoencoderViT got an unexpected "
            "keyword argument 'decoder_num_haeds' (did you mean 'decoder_num_heads'?)")):
        build('gd', distiller_cfg('gd', teacher=teacher))
    model, _ = task_model('seg')
    model.decode_head.chanels = 32
    with pytest.raises(TypeError, match=re.escape(
            "student (type='EncoderDecoder'): BaseDecodeHead got an unexpected keyword "
            "argument 'chanels' (did you mean 'channels'?)")):
        build('seg', distiller_cfg('seg', student=model))


def test_misspelt_cfg_path():
    with pytest.raises(ValueError, match=r'teacher: the config needs a "type" or a "cfg_path" '
                       r"key \(did you mean 'cfg_path' instead of 'cfg_pth'\?\); "
                       r"it has \['cfg_pth'\]"):
        build('det', distiller_cfg('det', teacher=dict(cfg_pth='configs/det/x.py')))


# ------------------------------------- the real tools, as a user runs them
def run_tool(args):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.slow
def test_tools_name_a_bad_checkpoint(tmp_path, shapes_root, teacher_ckpts):
    data = osp.join(shapes_root, 'seg') + '/'
    opts = ['--cfg-options'] + [f'{k}.dataset.data_root={data}' for k in
                                ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    bad = truncate(save_teacher('seg', tmp_path / 'seg.pth'))
    rc, out = run_tool(['tools/train.py', TINY_SEG, '--work-dir', str(tmp_path / 'w'),
                        '--resume', bad, *opts])
    assert rc != 0
    assert re.search(re.escape(bad) + r': cannot read checkpoint \(truncated', out), out[-3000:]
    assert not glob.glob(str(tmp_path / 'w' / '*.pth'))

    # a detector checkpoint for a segmentor: mmengine alone would only warn
    rc, out = run_tool(['tools/test.py', TINY_SEG, teacher_ckpts['det'],
                        '--work-dir', str(tmp_path / 't'), *opts])
    assert rc != 0
    assert re.search(re.escape(teacher_ckpts['det']) + ' does not fit the model of '
                     + re.escape(TINY_SEG) + r' \(EncoderDecoder\): \d+ missing key', out), \
        out[-3000:]
    assert not osp.exists(tmp_path / 't' / 'metrics.json')


# ---------------------------------- 2. classification teacher of another arch
def test_cls_teacher_of_another_width_names_the_file(tmp_path):
    other = copy.deepcopy(CLS_TEACHER)
    other['backbone']['arch']['embed_dims'] = 48
    other['head']['in_channels'] = 48
    path = str(tmp_path / 'teacher_48d.pth')
    torch.save(dict(state_dict=build('cls', other).state_dict()), path)
    with pytest.raises(CheckpointError, match=re.escape(path) + r' does not match the teacher '
                       r'classifier config: .*shape mismatch'):
        build('cls', distiller_cfg('cls', teacher_ckpt=path))
