"""``CheckedCocoDataset`` and ``CheckedLoadSegAnnotations``: they load the
shapes data exactly as the stock classes do, and bad input raises an error
that names the offending file."""
import json
import os.path as osp
import re

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

from g2sd_mm.datasets import CheckedCocoDataset, CheckedLoadSegAnnotations
from g2sd_mm.demo import DET_METAINFO, SEG_METAINFO, generate_shapes

TINY = dict(
    num_cls_train=4, num_cls_val=4, num_scene_train=2, num_scene_val=2)


@pytest.fixture
def tiny_copy(tmp_path):
    """A small, private detection + segmentation data set to damage."""
    root = str(tmp_path / 'shapes')
    generate_shapes(root, tasks=('det', 'seg'), **TINY)
    return root


def coco_dataset(data_root, type='CheckedCocoDataset', split='train',
                 **kwargs):
    """Build a COCO dataset through mmdet's registry."""
    from mmdet.registry import DATASETS
    cfg = dict(
        type=type,
        data_root=data_root,
        ann_file=f'annotations/instances_{split}.json',
        data_prefix=dict(img=f'{split}/'),
        metainfo=DET_METAINFO,
        pipeline=[],
        **kwargs)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(cfg)


def seg_dataset(data_root, load, split='train', reduce_zero_label=False):
    """An mmseg ``BaseSegDataset`` whose pipeline is just ``load``."""
    from mmseg.datasets import BaseSegDataset
    with DefaultScope.overwrite_default_scope('mmseg'):
        return BaseSegDataset(
            data_root=data_root,
            data_prefix=dict(
                img_path=f'images/{split}',
                seg_map_path=f'annotations/{split}'),
            img_suffix='.png',
            seg_map_suffix='.png',
            reduce_zero_label=reduce_zero_label,
            metainfo=SEG_METAINFO,
            pipeline=[load])


def get_item(dataset, index, scope):
    with DefaultScope.overwrite_default_scope(scope):
        return dataset[index]


def corrupt(path, how):
    if how == 'garbage':
        with open(path, 'wb') as f:
            f.write(b'this is not an image')
    else:  # truncated
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(data[:len(data) // 3])


def test_registered_by_importing_the_package():
    import g2sd_mm  # noqa: F401
    from mmdet.registry import DATASETS
    from mmseg.registry import TRANSFORMS
    assert DATASETS.get('CheckedCocoDataset') is CheckedCocoDataset
    assert TRANSFORMS.get('CheckedLoadSegAnnotations') is \
        CheckedLoadSegAnnotations


# ---------------------------------------------------------------------------
# CheckedCocoDataset
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('split, kwargs', [
    ('train', dict(filter_cfg=dict(filter_empty_gt=True, min_size=4))),
    ('val', dict(test_mode=True)),
])
def test_checked_coco_loads_like_stock(shapes_root, split, kwargs):
    data_root = osp.join(shapes_root, 'coco')
    stock = coco_dataset(data_root, 'CocoDataset', split, **kwargs)
    checked = coco_dataset(data_root, split=split, **kwargs)
    assert type(checked) is CheckedCocoDataset
    assert len(checked) == len(stock) > 0
    assert checked.metainfo == stock.metainfo
    assert checked.cat_ids == stock.cat_ids
    assert checked.cat2label == stock.cat2label
    for i in range(len(stock)):
        assert checked.get_data_info(i) == stock.get_data_info(i)
    assert 'COCOAPI' not in vars(checked) and not hasattr(checked, 'coco')


def rewrite_json(path, how):
    """Damage the COCO annotation file at ``path`` in the way ``how``."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    content = json.loads(text)
    if how == 'truncated':
        text = text[:len(text) // 2]
    elif how == 'not_a_dict':
        text = '[1, 2]'
    elif how.startswith('no_'):
        del content[how[3:]]
        text = json.dumps(content)
    elif how == 'annotations_not_a_list':
        content['annotations'] = {}
        text = json.dumps(content)
    elif how == 'empty_images':
        content['images'] = []
        text = json.dumps(content)
    elif how == 'image_without_file_name':
        del content['images'][0]['file_name']
        text = json.dumps(content)
    else:
        raise ValueError(how)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


@pytest.mark.parametrize('how, problem', [
    ('truncated', r'invalid JSON at line 1, column \d+'),
    ('not_a_dict', r'must be a JSON object .* this one is an array'),
    ('no_annotations', r'missing key\(s\) annotations'),
    ('no_images', r'missing key\(s\) images'),
    ('no_categories', r'missing key\(s\) categories'),
    ('annotations_not_a_list', r'"annotations" must be an array, got an '
     r'object'),
    ('empty_images', r'"images" is empty'),
    ('image_without_file_name', r"not a valid COCO annotation file "
     r"\(KeyError: 'file_name'\)"),
])
def test_checked_coco_bad_json_names_the_file(tiny_copy, how, problem):
    path = osp.join(tiny_copy, 'coco', 'annotations', 'instances_train.json')
    rewrite_json(path, how)
    with pytest.raises(ValueError) as err:
        coco_dataset(osp.join(tiny_copy, 'coco'))
    message = str(err.value)
    assert message.startswith(path + ': ')
    assert re.search(problem, message), message
    if how in ('truncated', 'not_a_dict', 'image_without_file_name'):
        # what the stock loader raised is kept as the cause
        assert err.value.__cause__ is not None


def test_checked_coco_missing_file_names_the_file(tmp_path):
    data_root = str(tmp_path / 'no_such_dir')
    with pytest.raises(FileNotFoundError) as err:
        coco_dataset(data_root)
    path = osp.join(data_root, 'annotations', 'instances_train.json')
    assert str(err.value).startswith(path + ': ')


def test_checked_coco_test_mode_accepts_an_image_info_file(tiny_copy):
    # like COCO's image_info_test-dev2017.json: images, no annotations
    path = osp.join(tiny_copy, 'coco', 'annotations', 'instances_train.json')
    rewrite_json(path, 'no_annotations')
    ds = coco_dataset(osp.join(tiny_copy, 'coco'), test_mode=True)
    assert len(ds) == TINY['num_scene_train']
    assert all(ds.get_data_info(i)['instances'] == [] for i in range(len(ds)))


# ---------------------------------------------------------------------------
# CheckedLoadSegAnnotations
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('split', ['train', 'val'])
def test_checked_seg_loads_like_stock(shapes_root, split):
    data_root = osp.join(shapes_root, 'seg')
    stock = seg_dataset(data_root, dict(type='LoadAnnotations'), split)
    checked = seg_dataset(
        data_root, dict(type='CheckedLoadSegAnnotations', num_classes=5),
        split)
    assert len(checked) == len(stock) > 0
    for i in range(len(stock)):
        want, got = get_item(stock, i, 'mmseg'), get_item(checked, i, 'mmseg')
        assert got['seg_map_path'] == want['seg_map_path']
        assert got['gt_seg_map'].dtype == want['gt_seg_map'].dtype
        np.testing.assert_array_equal(got['gt_seg_map'], want['gt_seg_map'])
        assert got['seg_fields'] == want['seg_fields'] == ['gt_seg_map']


@pytest.mark.parametrize('how', ['garbage', 'truncated'])
def test_checked_seg_corrupted_label_map_names_the_file(tiny_copy, how):
    path = osp.join(tiny_copy, 'seg', 'annotations', 'train', '00000.png')
    corrupt(path, how)
    ds = seg_dataset(
        osp.join(tiny_copy, 'seg'), dict(type='CheckedLoadSegAnnotations'))
    with pytest.raises(OSError) as err:
        get_item(ds, 0, 'mmseg')
    assert str(err.value).startswith(path + ': cannot decode the label map')
    assert isinstance(err.value.__cause__, OSError)  # Pillow's error


def set_pixels(path, value, count=3):
    label = np.array(Image.open(path))
    label.flat[:count] = value
    Image.fromarray(label).save(path)


def test_checked_seg_value_outside_the_classes_names_the_file(tiny_copy):
    ann_dir = osp.join(tiny_copy, 'seg', 'annotations', 'train')
    path = osp.join(ann_dir, '00001.png')
    set_pixels(path, 7)
    set_pixels(osp.join(ann_dir, '00000.png'), 255)  # ignored: allowed
    data_root = osp.join(tiny_copy, 'seg')
    ds = seg_dataset(
        data_root, dict(type='CheckedLoadSegAnnotations', num_classes=5))
    assert 255 in get_item(ds, 0, 'mmseg')['gt_seg_map']
    with pytest.raises(ValueError) as err:
        get_item(ds, 1, 'mmseg')
    message = str(err.value)
    assert message.startswith(path + ': ')
    assert re.search(r'value\(s\) 7 in 3 pixel\(s\)', message), message
    assert '0..4' in message and 'ignore index 255' in message

    # without num_classes nothing is checked, as in the stock class
    ds = seg_dataset(data_root, dict(type='CheckedLoadSegAnnotations'))
    assert 7 in get_item(ds, 1, 'mmseg')['gt_seg_map']


def test_checked_seg_lists_a_few_distinct_values(tiny_copy):
    path = osp.join(tiny_copy, 'seg', 'annotations', 'train', '00000.png')
    label = np.array(Image.open(path))
    label.flat[:20] = np.arange(10, 30)
    label.flat[20:30] = 10
    Image.fromarray(label).save(path)
    ds = seg_dataset(
        osp.join(tiny_copy, 'seg'),
        dict(type='CheckedLoadSegAnnotations', num_classes=5))
    with pytest.raises(ValueError) as err:
        get_item(ds, 0, 'mmseg')
    assert 'value(s) 10, 11, 12, 13, 14, 15, 16, 17 and 12 more in 30 ' \
        'pixel(s)' in str(err.value)


def test_checked_seg_checks_the_map_after_reduce_zero_label(tiny_copy):
    # reduce_zero_label turns the stored 0..4 into 255 (from 0) and 0..3
    path = osp.join(tiny_copy, 'seg', 'annotations', 'train', '00000.png')
    set_pixels(path, 4)  # 3 once reduced
    data_root = osp.join(tiny_copy, 'seg')
    ds = seg_dataset(
        data_root,
        dict(type='CheckedLoadSegAnnotations', num_classes=4),
        reduce_zero_label=True)
    label = get_item(ds, 0, 'mmseg')['gt_seg_map']
    assert 3 in label and 4 not in label and 255 in label
    assert set(np.unique(label).tolist()) <= {0, 1, 2, 3, 255}

    ds = seg_dataset(
        data_root,
        dict(type='CheckedLoadSegAnnotations', num_classes=3),
        reduce_zero_label=True)
    with pytest.raises(ValueError) as err:
        get_item(ds, 0, 'mmseg')
    assert str(err.value).startswith(path + ': ')
    assert re.search(r'value\(s\) 3 in \d+ pixel\(s\).* 0\.\.2 ',
                     str(err.value)), str(err.value)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_classes=0), 'num_classes'),
    (dict(num_classes=2.5), 'num_classes'),
    (dict(num_classes=True), 'num_classes'),
    (dict(ignore_index='255'), 'ignore_index'),
])
def test_checked_seg_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CheckedLoadSegAnnotations(**kwargs)


def test_checked_seg_repr():
    text = repr(CheckedLoadSegAnnotations(num_classes=5, ignore_index=0))
    assert text.startswith('CheckedLoadSegAnnotations(reduce_zero_label=')
    assert text.endswith('num_classes=5, ignore_index=0)')
