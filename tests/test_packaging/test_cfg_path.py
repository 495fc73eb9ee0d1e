"""``cfg_path`` and ``package::path`` config names: stock OpenMMLab configs and
g2sd_mm's own build distillers, from any working directory; wrong names say
what was looked for."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

import g2sd_mm  # noqa: F401
from g2sd_mm.package_data import resolve_config_path, shipped_path

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(autouse=True)
def _outside_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_stock_mmdet_configs_build_a_detection_distiller():
    from mmdet.registry import MODELS
    model = MODELS.build(dict(
        type='DetectionDistiller',
        teacher=dict(cfg_path='mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'),
        student=dict(cfg_path='mmdet::faster_rcnn/faster-rcnn_r18_fpn_8xb8-amp-lsj-200e_coco.py',
                     rpn_head=dict(anchor_generator=dict(scales=[4]))),
        warmup_iters=0))
    assert type(model.teacher).__name__ == 'FasterRCNN'
    assert model.teacher.backbone.depth == 50 and model.student.backbone.depth == 18
    # overrides merge into the file's model like config inheritance
    assert model.student.rpn_head.prior_generator.scales.tolist() == [4.0]


def test_stock_mmseg_configs_build_a_segmentation_distiller():
    from mmseg.registry import MODELS
    model = MODELS.build(dict(
        type='SegmentationDistiller',
        teacher=dict(cfg_path='mmseg::pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py'),
        student=dict(cfg_path='mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py')))
    assert type(model.teacher.decode_head).__name__ == 'PSPHead'
    assert type(model.student.decode_head).__name__ == 'FCNHead'
    assert model.student.backbone.depth == 18


def test_stock_mmpretrain_configs_build_a_classification_distiller():
    from mmpretrain.registry import MODELS
    model = MODELS.build(dict(
        type='ClassificationDistiller',
        teacher=dict(cfg_path='mmpretrain::resnet/resnet50_8xb32_in1k.py'),
        student=dict(cfg_path='mmpretrain::deit/deit-tiny-distilled_4xb256_in1k.py')))
    assert type(model.teacher.backbone).__name__ == 'ResNet'
    assert type(model.student.head).__name__ == 'DeiTClsHead'
    # the file's top-level data_preprocessor applies, as in the Runner
    assert type(model.data_preprocessor).__name__ == 'ClsDataPreprocessor'


def test_g2sd_mm_configs_by_package_name_and_by_checkout_path():
    name = 'det/vitdet_mask-rcnn_vit-32d-g2sd_simple-fpn_1xb2-300it_shapes.py'
    expected = osp.realpath(osp.join(ROOT, 'configs', name))
    assert osp.realpath(resolve_config_path(f'g2sd_mm::{name}')) == expected
    # the paths g2sd_mm's configs use mean the same outside the checkout
    assert osp.realpath(resolve_config_path(f'configs/{name}')) == expected
    from mmdet.registry import MODELS
    model = MODELS.build(dict(
        type='DetectionDistiller',
        student=dict(cfg_path=f'g2sd_mm::{name}'),
        teacher=dict(cfg_path='configs/det/'
                     'vitdet_mask-rcnn_vit-64d-mae_simple-fpn_1xb2-450it_shapes.py')))
    assert model.student.backbone.embed_dim == 32 and model.teacher.backbone.embed_dim == 64


def test_a_file_in_the_working_directory_comes_first(tmp_path):
    (tmp_path / 'configs').mkdir()
    mine = tmp_path / 'configs' / 'mine.py'
    mine.write_text("model = dict(type='ResNet', depth=18)\n")
    assert resolve_config_path('configs/mine.py') == 'configs/mine.py'


def test_wrong_package_path_names_package_folder_and_close_matches():
    from mmdet.registry import MODELS
    with pytest.raises(FileNotFoundError) as info:
        MODELS.build(dict(
            type='DetectionDistiller',
            teacher=dict(cfg_path='mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_cooc.py'),
            student=dict(cfg_path='mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')))
    message = str(info.value)
    assert message.startswith("teacher: config 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_cooc.py'"
                              " not found: package 'mmdet' ships its configs in ")
    assert osp.join('mmdet', '.mim', 'configs') in message
    assert 'closest: faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py' in message


def test_wrong_g2sd_mm_and_relative_paths():
    with pytest.raises(FileNotFoundError, match=r"package 'g2sd_mm' ships its configs in .*"
                       r"closest: det/g2sd_vits_maskrcnn.py"):
        resolve_config_path('g2sd_mm::det/g2sd_vits_maskrcn.py')
    with pytest.raises(FileNotFoundError, match=r"config 'configs/det/nope.py' not found "
                       r'\(looked for .*configs/det/nope.py and .*configs/det/nope.py\)'):
        resolve_config_path('configs/det/nope.py')
    with pytest.raises(ModuleNotFoundError, match=r"package 'no_such_pkg' .* is not installed"):
        resolve_config_path('no_such_pkg::a/b.py')
    with pytest.raises(ValueError, match='expected "package::dir/file.py"'):
        resolve_config_path('mmdet::')


def test_mmengine_resolves_g2sd_mm_names():
    cfg = get_config('g2sd_mm::det/g2sd_vits_maskrcnn.py')
    assert cfg.model.type == 'DetectionDistiller'
    assert osp.realpath(cfg.filename) == osp.realpath(
        osp.join(ROOT, 'configs', 'det', 'g2sd_vits_maskrcnn.py'))


def _user_config(tmp_path, text):
    path = tmp_path / 'my_distill.py'
    path.write_text(text)
    return Config.fromfile(str(path))


def test_user_config_inherits_g2sd_mm_and_builds_in_the_task_scope(tmp_path):
    cfg = _user_config(tmp_path, (
        "_base_ = ['g2sd_mm::seg/g2sd_vit-32d_upernet_1xb4-400it_shapes.py']\n"
        'model = dict(teacher_ckpt=None, student=dict(cfg_path='
        "'g2sd_mm::seg/upernet_vit-64d-mae_feature2pyramid_1xb4-600it_shapes.py'))\n"))
    # mmengine marks what a package:: base brings with that package's scope
    assert cfg.model._scope_ == 'g2sd_mm' and cfg.default_scope == 'mmseg'
    DefaultScope.get_instance('test_g2sd_mm_scope', scope_name=cfg.default_scope)
    model = ROOT_MODELS.build(cfg.model)  # what the Runner does
    assert type(model).__name__ == 'SegmentationDistiller'
    assert model.student.backbone.embed_dim == 64


def test_g2sd_mm_scope_without_a_default_scope_says_so(tmp_path):
    cfg = _user_config(tmp_path,
                       "_base_ = ['g2sd_mm::seg/g2sd_vit-32d_upernet_1xb4-400it_shapes.py']\n")
    DefaultScope._instance_dict.clear()
    with pytest.raises(KeyError, match='default_scope, and none is set'):
        ROOT_MODELS.build(cfg.model)


def test_shipped_files_are_the_repository_files():
    # editable install: .mim symlinks; checkout on PYTHONPATH: the folders themselves
    for name in ('configs', 'tools'):
        assert osp.realpath(shipped_path(name)) == osp.realpath(osp.join(ROOT, name))
