"""The three tasks of the prediction pictures and how their configs are read.

A task names the OpenMMLab library whose registries, inference API and
visualiser it uses, and the sub-folder of the shapes data root its dataset
lives in (``g2sd_mm/demo/shapes.py``: ``cls/``, ``coco/``, ``seg/``).
"""
import copy
import re
from dataclasses import dataclass
from typing import List, Optional

from mmengine.config import Config

from ..package_data import resolve_config_path

__all__ = ['TaskSpec', 'TASKS', 'load_task_config', 'inference_config', 'inference_pipeline',
           'annotation_transforms']


@dataclass(frozen=True)
class TaskSpec:
    """One task: ``name`` (``cls``/``det``/``seg``), the library ``scope``, the
    sub-folder of the shapes root (``data_dir``) and the row label (``title``)."""
    name: str
    scope: str
    data_dir: str
    title: str


TASKS = {
    'cls': TaskSpec('cls', 'mmpretrain', 'cls', 'classification'),
    'det': TaskSpec('det', 'mmdet', 'coco', 'detection'),
    'seg': TaskSpec('seg', 'mmseg', 'seg', 'segmentation'),
}

# transforms that read annotations: not wanted for inference on an image file
_ANNOTATION_LOADER = re.compile(r'Load\w*Annotations$')


def _type_name(transform: dict) -> str:
    kind = transform.get('type', '')
    return kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))


def annotation_transforms(pipeline: List[dict]) -> List[dict]:
    """The transforms of ``pipeline`` that load annotations (``LoadAnnotations``,
    ``CheckedLoadSegAnnotations``, ...)."""
    return [copy.deepcopy(t) for t in pipeline if _ANNOTATION_LOADER.search(_type_name(t))]


def inference_pipeline(pipeline: List[dict]) -> List[dict]:
    """``pipeline`` without its annotation loaders: what an image file needs."""
    return [copy.deepcopy(t) for t in pipeline
            if not _ANNOTATION_LOADER.search(_type_name(t))]


def load_task_config(path: str, data_root: Optional[str], role: str) -> Config:
    """Read a model config for inference on its test dataset.

    ``path`` is a file or ``package::dir/file.py``; ``data_root`` (if given)
    replaces the test dataset's ``data_root``. The backbone's ``init_cfg`` is
    cleared: configs name pretrained files that a whole-model checkpoint makes
    unnecessary (and that need not exist).

    Raises:
        FileNotFoundError: naming ``role`` and the missing file.
    """
    try:
        resolved = resolve_config_path(path)
    except FileNotFoundError as e:
        raise FileNotFoundError(f'{role} config: {e}') from e
    cfg = Config.fromfile(resolved)
    backbone = cfg.model.get('backbone')
    if isinstance(backbone, dict) and 'init_cfg' in backbone:
        backbone.init_cfg = None
    if data_root is not None:
        cfg.test_dataloader.dataset.data_root = data_root
    return cfg


def inference_config(cfg: Config) -> Config:
    """A copy of ``cfg`` whose test dataset pipeline and ``test_pipeline`` are
    the test pipeline without annotation loaders (the inference APIs of mmdet,
    mmpretrain and mmseg read one or the other and get only an image path)."""
    cfg = copy.deepcopy(cfg)
    dataset = cfg.test_dataloader.dataset
    dataset.pipeline = inference_pipeline(dataset.pipeline)
    cfg.test_pipeline = copy.deepcopy(dataset.pipeline)
    return cfg
