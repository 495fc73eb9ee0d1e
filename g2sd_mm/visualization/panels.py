"""One picture per (image, ground truth or prediction), drawn by the task
library's own visualiser: mmpretrain ``UniversalVisualizer.visualize_cls``,
mmdet ``DetLocalVisualizer`` (boxes, masks, labels with scores), mmseg
``SegLocalVisualizer`` (label map in the dataset palette).

Small images are first enlarged by an integer factor (nearest neighbour, the
annotations with them) so that the visualisers' boxes and labels stay legible.
"""
import contextlib
from typing import Any, Dict, Iterator

import numpy as np
import torch
from mmengine.structures import InstanceData, PixelData

from .tasks import TaskSpec

__all__ = ['upscale_factor', 'upscale_image', 'PanelPainter']


def upscale_factor(shape, panel_size: int) -> int:
    """The integer factor that brings the longer side of ``shape`` closest to
    ``panel_size`` from below (at least 1)."""
    return max(1, int(panel_size) // max(int(shape[0]), int(shape[1])))


def upscale_image(array: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of the first two axes (H, W, ...)."""
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def _upscale_maps(maps: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour enlargement of the last two axes (..., H, W)."""
    return maps.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


@contextlib.contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """mmdet jitters mask colours with ``np.random``: draw reproducibly without
    changing the caller's random state."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


class PanelPainter:
    """Draws the panels of one task.

    Args:
        spec (TaskSpec): The task.
        metainfo (dict): The test dataset's ``metainfo`` (``classes``,
            ``palette``).
        panel_size (int): Wanted side of a panel in pixels (images are
            enlarged by :func:`upscale_factor`).
        score_thr (float): Detections scoring at most this are not drawn.
    """

    def __init__(self, spec: TaskSpec, metainfo: Dict, panel_size: int = 384,
                 score_thr: float = 0.5) -> None:
        self.spec = spec
        self.metainfo = dict(metainfo)
        self.panel_size = panel_size
        self.score_thr = score_thr
        name = f'g2sd_prediction_panels_{spec.name}'
        if spec.name == 'cls':
            from mmpretrain.visualization import UniversalVisualizer
            self.visualizer = UniversalVisualizer(name=name)
        elif spec.name == 'det':
            from mmdet.visualization import DetLocalVisualizer
            self.visualizer = DetLocalVisualizer(name=name)
        elif spec.name == 'seg':
            from mmseg.visualization import SegLocalVisualizer
            self.visualizer = SegLocalVisualizer(name=name)
            # (SegLocalVisualizer.__init__ passes classes and palette to
            # set_dataset_meta in swapped order: set them here)
            self.visualizer.set_dataset_meta(classes=self.metainfo.get('classes'),
                                             palette=self.metainfo.get('palette'))
        else:
            raise KeyError(f'unknown task {spec.name!r}')
        if spec.name != 'seg':
            self.visualizer.dataset_meta = self.metainfo

    def draw(self, image: np.ndarray, sample: Any, ground_truth: bool) -> np.ndarray:
        """The panel (RGB uint8) of ``image`` with the ground truth
        (``ground_truth=True``) or the prediction held by ``sample``."""
        factor = upscale_factor(image.shape, self.panel_size)
        big = np.ascontiguousarray(upscale_image(image, factor))
        return getattr(self, f'_draw_{self.spec.name}')(big, sample, factor, ground_truth)

    def _draw_cls(self, image, sample, factor, ground_truth):
        return self.visualizer.visualize_cls(
            image, sample, classes=self.metainfo.get('classes'), draw_gt=ground_truth,
            draw_pred=not ground_truth, draw_score=True)

    def _draw_det(self, image, sample, factor, ground_truth):
        from mmdet.structures import DetDataSample
        key = 'gt_instances' if ground_truth else 'pred_instances'
        instances = sample.get(key, InstanceData())
        if not ground_truth and 'scores' in instances:
            instances = instances[instances.scores > self.score_thr]
        if len(instances) == 0:
            return image.copy()
        big = InstanceData()
        for field in ('labels', 'scores'):
            if field in instances:
                big.set_field(instances.get(field), field)
        if 'bboxes' in instances:
            big.bboxes = torch.as_tensor(instances.bboxes, dtype=torch.float32) * factor
        if 'masks' in instances:
            masks = instances.masks
            if hasattr(masks, 'to_ndarray'):  # BitmapMasks / PolygonMasks
                masks = masks.to_ndarray()
            big.masks = _upscale_maps(torch.as_tensor(masks).bool(), factor)
        drawn = DetDataSample()
        drawn.set_field(big, key)
        with _numpy_seed(0):
            self.visualizer.add_datasample(
                self.spec.name, image, drawn, draw_gt=ground_truth, draw_pred=not ground_truth,
                pred_score_thr=self.score_thr)
        return self.visualizer.get_image()

    def _draw_seg(self, image, sample, factor, ground_truth):
        from mmseg.structures import SegDataSample
        key = 'gt_sem_seg' if ground_truth else 'pred_sem_seg'
        seg_map = torch.as_tensor(sample.get(key).data)
        drawn = SegDataSample()
        drawn.set_field(PixelData(data=_upscale_maps(seg_map, factor)), key)
        self.visualizer.add_datasample(self.spec.name, image, drawn, draw_gt=ground_truth,
                                       draw_pred=not ground_truth, with_labels=True)
        return self.visualizer.get_image()
