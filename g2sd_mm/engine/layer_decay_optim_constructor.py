"""Layer-wise learning-rate decay for ViT backbones, plain or inside a distiller."""
import logging
import re
from typing import Dict, List, Sequence, Tuple

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ['LayerDecayOptimWrapperConstructor', 'get_layer_id']

_EMBED_NAMES = ('patch_embed', 'cls_token', 'pos_embed', 'mask_token')
_BLOCK = re.compile(r'(?:blocks|layers)\.(\d+)\.')
_DEFAULT_NO_DECAY = ('pos_embed', 'cls_token', 'dist_token', 'mask_token', 'rel_pos')


def _backbone_suffix(name: str, prefixes: Sequence[str]):
    """The part of ``name`` after the first matching backbone prefix, or ``None``.

    A prefix matches at the start of the name or right after a ``.``, so the
    default ``'backbone.'`` matches ``backbone.blocks.0...`` and
    ``student.backbone.blocks.0...``.
    """
    for prefix in prefixes:
        start = 0
        while True:
            idx = name.find(prefix, start)
            if idx < 0:
                break
            if idx == 0 or name[idx - 1] == '.':
                return name[idx + len(prefix):]
            start = idx + 1
    return None


def get_layer_id(param_name: str, num_layers: int,
                 backbone_prefixes: Sequence[str] = ('backbone.',)) -> int:
    """Layer id of a parameter for layer-wise lr decay.

    Inside the backbone: patch embedding, class/mask token and position table
    -> 0; ``blocks.i`` (or mmpretrain/mmseg ``layers.i``) -> ``i + 1``; other
    backbone parameters (e.g. a final norm, the distillation token) ->
    ``num_layers + 1``. Everything outside the backbone (neck, heads,
    adapters) -> ``num_layers + 1``.

    The distillation token is a new task parameter, not part of the
    pre-trained embedding: like G2SD's reference (``util/lr_decay.py`` gives
    every name it does not list the top layer id) it trains at the full lr.

    Raises:
        ValueError: a block index ``>= num_layers`` (``num_layers`` does not
            match the backbone).
    """
    rest = _backbone_suffix(param_name, backbone_prefixes)
    if rest is None:
        return num_layers + 1
    if rest.startswith(_EMBED_NAMES):
        return 0
    match = _BLOCK.match(rest)
    if match:
        block = int(match.group(1))
        if block >= num_layers:
            raise ValueError(f'{param_name}: block {block} but paramwise_cfg.num_layers is '
                             f'{num_layers}; set num_layers to the backbone depth')
        return block + 1
    return num_layers + 1


_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
               nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


def _norm_param_names(module: nn.Module) -> set:
    """Names of the parameters that belong to normalisation layers."""
    return {f'{prefix}.{name}' if prefix else name
            for prefix, m in module.named_modules() if isinstance(m, _NORM_TYPES)
            for name, _ in m.named_parameters(recurse=False)}


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Layer-wise lr decay (BEiT/MAE/ViTDet fine-tuning) that also works wrapped.

    Registered in mmengine's root registry, so mmdet, mmseg and mmpretrain
    configs all find it. Backbone parameters are recognised by
    ``backbone_prefixes`` anywhere at a name boundary, so the same config
    applies to ``backbone.blocks.3...`` (plain detector) and
    ``student.backbone.blocks.3...`` (inside a distiller).

    For layer id ``i`` (see :func:`get_layer_id`) a parameter gets
    ``lr = base_lr * lr_scale`` with ``lr_scale = layer_decay_rate ** (num_layers + 1 - i)``:
    the first block is scaled ``rate ** num_layers``, the last ``rate ** 1``, the
    embeddings ``rate ** (num_layers + 1)`` and non-backbone parameters 1.

    Weight decay is ``weight_decay`` except for 1-D tensors (norms, biases),
    names ending in ``.bias`` and names containing one of ``no_decay_names``,
    which get 0. With ``bias_decay=True`` biases are decayed too, except those
    of normalisation layers (detectron2's ``get_default_optimizer_params(
    weight_decay_norm=0)``, the rule of the ViTDet / G2SD detection recipes).

    Parameters with ``requires_grad=False`` (a frozen teacher, frozen stages)
    are left out of every group: the optimizer never sees them.

    ``paramwise_cfg`` keys:
        num_layers (int): backbone depth (required).
        layer_decay_rate (float): decay per layer (required), e.g. 0.7.
        decay_type (str): only ``'layer_wise'``.
        backbone_prefixes (sequence of str): default ``('backbone.',)``.
        no_decay_names (sequence of str): default
            ``('pos_embed', 'cls_token', 'dist_token', 'mask_token', 'rel_pos')``.
        bias_decay (bool): decay biases outside normalisation layers.
            Default ``False``.

    Example:
        >>> optim_wrapper = dict(
        ...     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.1),
        ...     constructor='LayerDecayOptimWrapperConstructor',
        ...     paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.7))
    """

    _KEYS = {'num_layers', 'layer_decay_rate', 'decay_type', 'backbone_prefixes',
             'no_decay_names', 'bias_decay'}

    def _validate_cfg(self) -> None:
        super()._validate_cfg()
        cfg = self.paramwise_cfg
        unknown = set(cfg) - self._KEYS
        if unknown:
            raise ValueError(f'LayerDecayOptimWrapperConstructor: unsupported paramwise_cfg '
                             f'keys {sorted(unknown)}; supported: {sorted(self._KEYS)}')
        for key in ('num_layers', 'layer_decay_rate'):
            if key not in cfg:
                raise ValueError(f'LayerDecayOptimWrapperConstructor needs paramwise_cfg.{key}')
        if int(cfg['num_layers']) <= 0 or not 0 < float(cfg['layer_decay_rate']) <= 1:
            raise ValueError('num_layers must be positive and 0 < layer_decay_rate <= 1, got '
                             f'{cfg["num_layers"]} and {cfg["layer_decay_rate"]}')
        if cfg.get('decay_type', 'layer_wise') != 'layer_wise':
            raise ValueError(f'decay_type {cfg["decay_type"]!r} is not supported; use '
                             "'layer_wise'")
        if isinstance(cfg.get('backbone_prefixes', ()), str) or \
                isinstance(cfg.get('no_decay_names', ()), str):
            raise TypeError('backbone_prefixes and no_decay_names must be lists of strings')
        if self.base_lr is None:
            raise ValueError('the optimizer config needs an lr for layer-wise decay')

    def add_params(self, params: List[dict], module: nn.Module, **kwargs) -> None:
        """Fill ``params`` with one group per (layer id, decay / no decay)."""
        cfg = self.paramwise_cfg
        num_layers = int(cfg['num_layers'])
        rate = float(cfg['layer_decay_rate'])
        prefixes = tuple(cfg.get('backbone_prefixes', ('backbone.',)))
        no_decay_names = tuple(cfg.get('no_decay_names', _DEFAULT_NO_DECAY))
        bias_decay = bool(cfg.get('bias_decay', False))
        norm_params = _norm_param_names(module) if bias_decay else set()
        groups: Dict[Tuple[int, bool], dict] = {}
        skipped = 0
        for name, param in module.named_parameters():
            if not param.requires_grad:
                skipped += 1
                continue
            layer_id = get_layer_id(name, num_layers, prefixes)
            if bias_decay and name.endswith('.bias') and name not in norm_params:
                no_decay = any(n in name for n in no_decay_names)
            else:
                no_decay = (param.ndim == 1 or name.endswith('.bias')
                            or any(n in name for n in no_decay_names))
            key = (layer_id, no_decay)
            if key not in groups:
                scale = rate ** (num_layers + 1 - layer_id)
                group = dict(params=[], param_names=[], lr=self.base_lr * scale,
                             lr_scale=scale, layer_id=layer_id)
                if no_decay:
                    group['weight_decay'] = 0.0
                elif self.base_wd is not None:
                    group['weight_decay'] = self.base_wd
                groups[key] = group
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        keys = sorted(groups)
        ordered = [groups[k] for k in keys]
        params.extend(ordered)
        if not any(layer_id <= num_layers for layer_id, _ in keys):
            print_log('LayerDecayOptimWrapperConstructor: no trainable parameter matched '
                      f'backbone prefixes {prefixes}; every group has lr_scale 1',
                      logger='current', level=logging.WARNING)
        lines = [f'layer {lid:>2} {"no_decay" if nd else "decay   "} '
                 f'{len(g["params"]):>4} tensors  lr_scale={g["lr_scale"]:.4g}  '
                 f'lr={g["lr"]:.4g}  wd={g.get("weight_decay", "optimizer default")}'
                 for (lid, nd), g in zip(keys, ordered)]
        print_log(f'LayerDecayOptimWrapperConstructor: num_layers={num_layers}, '
                  f'layer_decay_rate={rate}, {len(ordered)} groups, {skipped} frozen '
                  'tensors left out\n  ' + '\n  '.join(lines), logger='current')
