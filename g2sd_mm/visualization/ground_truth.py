"""The first images of a config's test dataset with their ground truth.

Must run under the task library's default scope
(``DefaultScope.overwrite_default_scope(spec.scope)``): the dataset and the
annotation loaders are built from that library's registries.
"""
import copy
import importlib
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData, PixelData

from .tasks import TaskSpec, annotation_transforms

__all__ = ['Sample', 'read_samples']

# used when a test pipeline loads no annotations
_DEFAULT_LOADERS = dict(
    det=dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    seg=dict(type='LoadAnnotations'))


@dataclass
class Sample:
    """One test image: its file, its pixels (RGB, uint8, H x W x 3) and a data
    sample of the task library holding the ground truth (``gt_label``,
    ``gt_instances`` or ``gt_sem_seg``) at the image's own size."""
    img_path: str
    image: np.ndarray
    gt: Any


def _registries(scope: str):
    module = importlib.import_module(f'{scope}.registry')
    return module.DATASETS, module.TRANSFORMS


def _det_gt(results: dict) -> Any:
    from mmdet.structures import DetDataSample
    keep = ~np.asarray(results.get('gt_ignore_flags', np.zeros(0, bool)), dtype=bool)
    labels = np.asarray(results.get('gt_bboxes_labels', np.zeros(0, np.int64)))
    boxes = results.get('gt_bboxes')
    boxes = torch.zeros(0, 4) if boxes is None else \
        torch.as_tensor(boxes.tensor, dtype=torch.float32)
    instances = InstanceData(bboxes=boxes, labels=torch.from_numpy(labels.astype(np.int64)))
    if 'gt_masks' in results:
        instances.masks = torch.from_numpy(results['gt_masks'].to_ndarray().astype(bool))
    if len(keep) == len(instances):
        instances = instances[torch.from_numpy(keep)]
    return DetDataSample(gt_instances=instances)


def _seg_gt(results: dict) -> Any:
    from mmseg.structures import SegDataSample
    seg_map = torch.from_numpy(np.asarray(results['gt_seg_map']).astype(np.int64))[None]
    return SegDataSample(gt_sem_seg=PixelData(data=seg_map))


def _cls_gt(info: dict) -> Any:
    from mmpretrain.structures import DataSample
    return DataSample().set_gt_label(info['gt_label'])


def read_samples(spec: TaskSpec, cfg: Config, num_images: int) -> Tuple[List[Sample], Dict]:
    """The first ``num_images`` samples (fewer if the dataset is smaller) of
    ``cfg``'s test dataset, in dataset order, and the dataset's ``metainfo``.

    The ground truth is read by the annotation loaders of the config's test
    pipeline (only those: no resizing), so it fits the image as stored.
    """
    if num_images < 1:
        raise ValueError(f'num_images must be at least 1, got {num_images}')
    datasets, transforms = _registries(spec.scope)
    dataset = datasets.build(copy.deepcopy(cfg.test_dataloader.dataset))
    if len(dataset) == 0:
        raise ValueError(f'the test dataset of {cfg.filename} is empty')
    loaders = annotation_transforms(cfg.test_dataloader.dataset.pipeline)
    if not loaders and spec.name in _DEFAULT_LOADERS:
        loaders = [_DEFAULT_LOADERS[spec.name]]
    loaders = [transforms.build(t) for t in loaders]
    samples = []
    for index in range(min(num_images, len(dataset))):
        info = dataset.get_data_info(index)
        image = mmcv.imread(info['img_path'], channel_order='rgb')
        if spec.name == 'cls':
            gt = _cls_gt(info)
        else:
            results = dict(info, ori_shape=image.shape[:2], img_shape=image.shape[:2])
            for loader in loaders:
                results = loader(results)
            gt = _det_gt(results) if spec.name == 'det' else _seg_gt(results)
        samples.append(Sample(info['img_path'], image, gt))
    return samples, dict(dataset.metainfo)
