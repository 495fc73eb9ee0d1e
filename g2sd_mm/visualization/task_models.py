"""Task models built with the libraries' inference APIs, loaded strictly.

``mmpretrain.get_model`` / ``mmdet.apis.init_detector`` /
``mmseg.apis.init_model`` build the model from the config without weights;
the checkpoint is then loaded with no missing, unexpected or mis-shaped key
(the APIs' own loading is non-strict and only warns). Predictions come from
``ImageClassificationInferencer`` / ``inference_detector`` /
``inference_model`` on the image files. Run under the task library's default
scope.
"""
import os.path as osp
import re
import warnings
from typing import Any, Dict, List, Sequence

import torch.nn as nn
from mmengine.config import Config

from ..checkpoint import CheckpointError, state_dict_from_file, state_dict_problems
from .tasks import TaskSpec, inference_config

__all__ = ['load_model_strict', 'build_task_model', 'predict']


def load_model_strict(model: nn.Module, checkpoint: str, config: str) -> None:
    """Load ``checkpoint`` (``state_dict``, ``model`` or bare; ``module.``
    prefixes stripped) into ``model`` with every key matching.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
        CheckpointError: naming the checkpoint, the config and the keys.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    state = {re.sub(r'^module\.', '', k): v for k, v in state_dict_from_file(checkpoint).items()}
    problems = state_dict_problems(model.state_dict(), state)
    if problems:
        raise CheckpointError(f'{checkpoint} does not fit the model of {config} '
                              f'({type(model).__name__}): ' + '; '.join(problems))
    model.load_state_dict(state, strict=True)


def build_task_model(spec: TaskSpec, cfg: Config, checkpoint: str, config_name: str,
                     metainfo: Dict, device: str = 'cpu') -> nn.Module:
    """The model of ``cfg`` with ``checkpoint`` loaded strictly, in eval mode,
    with ``metainfo`` (the test dataset's classes / palette) as its dataset meta."""
    cfg = inference_config(cfg)
    with warnings.catch_warnings(record=True):
        # the APIs warn that no checkpoint was given and that they fall back to
        # COCO / Cityscapes classes: the checkpoint and the test dataset's
        # classes are set below. (record=True also keeps their changes of the
        # warning filters local.)
        if spec.name == 'cls':
            from mmpretrain.apis import get_model
            model = get_model(cfg, pretrained=False, device=device)
        elif spec.name == 'det':
            from mmdet.apis import init_detector
            model = init_detector(cfg, None, device=device)
        elif spec.name == 'seg':
            from mmseg.apis import init_model
            model = init_model(cfg, None, device=device)
        else:
            raise KeyError(f'unknown task {spec.name!r}')
    load_model_strict(model, checkpoint, config_name)
    model.eval()
    if spec.name == 'cls':
        model._dataset_meta = dict(metainfo)
    else:
        model.dataset_meta = dict(metainfo)
    return model


def predict(spec: TaskSpec, model: nn.Module, img_paths: Sequence[str]) -> List[Any]:
    """One prediction data sample per image file (on the CPU)."""
    img_paths = list(img_paths)
    if spec.name == 'cls':
        from mmpretrain.apis import ImageClassificationInferencer
        inferencer = ImageClassificationInferencer(model, pretrained=False)
        results = inferencer(img_paths, return_datasamples=True)
    elif spec.name == 'det':
        from mmdet.apis import inference_detector
        results = inference_detector(model, img_paths)
    elif spec.name == 'seg':
        from mmseg.apis import inference_model
        results = inference_model(model, img_paths)
    else:
        raise KeyError(f'unknown task {spec.name!r}')
    return [r.cpu() for r in results]
