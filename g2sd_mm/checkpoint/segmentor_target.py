"""Check a converted segmentor state dict against the g2sd_mm config it is meant for.

Used by the segmentation converters in ``tools/model_converters/``: the
converted weights are loaded strictly into the model a config builds (every
target parameter and buffer filled, no key left over, every shape equal), so a
file that converts is a file the config's ``teacher_ckpt`` / ``load_from`` /
``tools/test.py`` accepts.
"""
from typing import Dict, Mapping, Optional

import torch
import torch.nn as nn

from ..models.algorithms.base_distiller import model_cfg_from_path
from ..package_data import resolve_config_path
from .loading import load_state_dict_strict

__all__ = ['SEG_CONFIGS', 'default_seg_config', 'build_segmentor', 'check_segmentor_state']

# embed width -> the UperNet config whose backbone has it (ADE20K, 150 classes, 512 crops)
SEG_CONFIGS: Dict[int, str] = {
    768: 'configs/seg/upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py',
    384: 'configs/seg/upernet_vit-s-g2sd_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py',
    192: 'configs/seg/upernet_vit-t-g2sd_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py',
}


def default_seg_config(state: Mapping[str, torch.Tensor], source: str) -> str:
    """The config for a converted state dict, chosen by its ``backbone.cls_token`` width."""
    token = state.get('backbone.cls_token')
    if token is None:
        raise ValueError(f'{source}: no backbone.cls_token, so the backbone width is unknown; '
                         'give the config explicitly')
    width = int(token.shape[-1])
    if width not in SEG_CONFIGS:
        raise ValueError(f'{source}: backbone width {width} has no UperNet config here (known: '
                         f'{sorted(SEG_CONFIGS)}); give the config explicitly')
    return resolve_config_path(SEG_CONFIGS[width])


def build_segmentor(config: str, **overrides) -> nn.Module:
    """The ``model`` of a segmentation config (backbone ``init_cfg`` off), in eval mode."""
    from mmseg.registry import MODELS
    overrides = dict(overrides)
    overrides['backbone'] = dict(overrides.get('backbone', {}), init_cfg=None)
    cfg = model_cfg_from_path(dict(cfg_path=config, **overrides))
    cfg.setdefault('_scope_', 'mmseg')
    return MODELS.build(cfg).eval()


def check_segmentor_state(state: Mapping[str, torch.Tensor], config: Optional[str],
                          source: str) -> str:
    """Strictly load ``state`` into the model of ``config`` (default: by width).

    Returns:
        str: the config used.

    Raises:
        CheckpointError: naming ``source``, the config and the missing,
            unexpected or mis-shaped keys (e.g. a ViT-S file for the ViT-B config).
        ValueError: no config given and none known for the backbone width.
    """
    config = config or default_seg_config(state, source)
    model = build_segmentor(config)
    load_state_dict_strict(model, dict(state), role=f'segmentor ({config})', source=source)
    return config
