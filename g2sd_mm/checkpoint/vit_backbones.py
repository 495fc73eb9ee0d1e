"""Strict loaders of ViT encoder weights into the g2sd_mm ViT backbones.

One function per backbone, each a policy over :func:`.loading.load_encoder_state`
(which keys may stay at their initialisation, how position tables are
resized):

* :func:`load_vit_pretrained` -> ``ViTDet`` (detection);
* :func:`load_vit_rel_pos_pretrained` -> ``ViTRelPos`` (segmentation);
* :func:`load_vit_classifier_pretrained` -> mmpretrain ``VisionTransformer`` /
  ``G2SDViT`` and the distilled student ``G2SDDistilledViT``.

The backbones call them from ``init_weights`` for a ``Pretrained`` ``init_cfg``.
"""
import re
from typing import Dict, List, Mapping, Optional, Union

import torch
import torch.nn as nn

from .layouts.mae import official_encoder_to_mmpretrain_backbone
from .loading import load_encoder_state, source_name
from .resize import (resize_abs_pos, resize_beit_rel_pos, resize_decomposed_rel_pos,
                     resize_prefixed_pos)

__all__ = ['load_vit_pretrained', 'load_vit_rel_pos_pretrained', 'load_vit_classifier_pretrained']

Checkpoint = Union[str, Mapping[str, torch.Tensor]]

# ViTDet: decomposed relative-position tables a plain ViT checkpoint lacks.
_DECOMPOSED_REL_POS = re.compile(r'blocks\.\d+\.attn\.rel_pos_[hw]$')
# ViTRelPos: BEiT tables and layer scale, which a plain ViT checkpoint lacks.
_REL_POS_AND_LAYER_SCALE = re.compile(
    r'blocks\.\d+\.(rel_pos\.relative_position_bias_table|ls[12]\.gamma)$')
_BEIT_TABLE = re.compile(r'blocks\.\d+\.rel_pos\.relative_position_bias_table$')
# Classifier: the global-pool norm (``ln2``, MAE's ``fc_norm``) is new when
# starting from a pre-trained encoder; a final norm is dropped when the model has none.
# The distillation token (reference layout, no position entry) starts fresh.
_POOL_NORM_OR_DIST_TOKEN = re.compile(r'ln2\.(weight|bias)$|dist_token$')
_FINAL_NORM = re.compile(r'ln1\.(weight|bias)$')


def load_vit_pretrained(backbone: nn.Module, checkpoint: Checkpoint,
                        prefix: Optional[str] = None) -> Dict[str, List[str]]:
    """Strictly load ViT encoder weights into a ``ViTDet``.

    Accepted inputs (files are read with ``load_checkpoint_file``, i.e. no
    pickled code):

    * official MAE / timm ViT weights (``ckpt['model']`` or a bare dict),
      with or without the MAE decoder;
    * mmpretrain ``VisionTransformer`` / MAE weights (``state_dict`` with
      ``backbone.layers.N...``), e.g. the stage-1 student export;
    * g2sd_mm stage-1 checkpoints (``student.*``) and detectors whose backbone
      is a ViTDet (``backbone.blocks.N...``, ``student.backbone...``).

    Without ``prefix`` the first of ``student.backbone.``, ``backbone.``,
    ``student.`` present is used when the file has no bare encoder keys; keys
    outside the prefix (neck, heads, teacher, data preprocessor) are not read.

    ``pos_embed`` on another grid (with or without a class-token slot) is
    resampled bicubically, relative-position tables of another length
    linearly. The relative-position tables may be absent (they keep their zero
    init); the class token, final norm, classifier head and MAE decoder are
    dropped. Any other missing or extra key and any shape mismatch raises.

    Args:
        backbone (ViTDet): the model to fill.
        checkpoint (str | dict): a file path or a loaded checkpoint/state dict.
        prefix (str, optional): only read keys under this prefix (stripped).

    Returns:
        dict: ``loaded``, ``missing`` (relative-position tables left at init)
        and ``ignored`` (checkpoint keys dropped) key lists.

    Raises:
        FileNotFoundError: ``checkpoint`` is a path that does not exist.
        CheckpointError: the weights do not fit; the message names the source.
    """
    def resize(key, value, want):
        if key == 'pos_embed' and value.dim() == 3 and value.shape[-1] == want[-1]:
            return resize_abs_pos(value, backbone.pretrain_grid_size, source_name(checkpoint))
        if _DECOMPOSED_REL_POS.match(key) and value.dim() == 2 and value.shape[1] == want[1] \
                and value.shape[0] != want[0]:
            return resize_decomposed_rel_pos(value, want[0])
        return value

    return load_encoder_state(backbone, checkpoint, prefix, _DECOMPOSED_REL_POS, resize,
                              'relative-position tables')


def load_vit_rel_pos_pretrained(backbone: nn.Module, checkpoint: Checkpoint,
                                prefix: Optional[str] = None) -> Dict[str, List[str]]:
    """Strictly load ViT encoder weights into a ``ViTRelPos``.

    Accepts what :func:`load_vit_pretrained` accepts (official MAE / timm
    weights, mmpretrain ``VisionTransformer`` / MAE weights such as the stage-1
    student export, g2sd_mm stage-1 checkpoints, segmentor checkpoints with a
    ViTRelPos backbone), detecting the ``student.backbone.`` / ``backbone.`` /
    ``student.`` prefix when ``prefix`` is not given.

    ``pos_embed`` on another grid (with or without a class-token slot) is
    resampled bicubically to the model's grid, relative-position tables of a
    square window bicubically to the model's window. Relative-position tables
    and layer-scale factors may be absent (they keep their init: zero and
    ``layer_scale_init_value``); the final norm, classifier head and MAE
    decoder are dropped. Any other missing or extra key and any shape mismatch
    raises.

    Returns:
        dict: ``loaded``, ``missing`` (parameters left at init) and ``ignored``
        (checkpoint keys dropped) key lists.

    Raises:
        FileNotFoundError: ``checkpoint`` is a path that does not exist.
        CheckpointError: the weights do not fit; the message names the source.
    """
    def resize(key, value, want):
        if key == 'pos_embed' and value.dim() == 3 and value.shape[-1] == want[-1]:
            return resize_abs_pos(value, backbone.grid_size, source_name(checkpoint))
        if _BEIT_TABLE.match(key) and value.dim() == 2 and value.shape[1] == want[1] \
                and value.shape[0] != want[0]:
            return resize_beit_rel_pos(value, want, backbone.grid_size, key,
                                       source_name(checkpoint))
        return value

    return load_encoder_state(backbone, checkpoint, prefix, _REL_POS_AND_LAYER_SCALE, resize,
                              'relative-position tables and layer scale')


def load_vit_classifier_pretrained(backbone: nn.Module, checkpoint: Checkpoint,
                                   prefix: Optional[str] = None) -> Dict[str, List[str]]:
    """Strictly load ViT encoder weights into an mmpretrain ViT backbone.

    Accepts the same sources as :func:`load_vit_pretrained`: the stage-1
    export (``*_backbone.pth``, mmpretrain layout), g2sd_mm stage-1 checkpoints
    (``student.*``), official MAE / timm encoders and mmpretrain MAE or
    classifier checkpoints. Files are read with ``load_checkpoint_file``.

    * MAE decoder, mask token, projector and classifier head keys are dropped;
    * a distillation token (``G2SDDistilledViT``) missing from the checkpoint
      keeps its fresh initialisation; the position table maps 1:1 (the token
      has no position entry);
    * a final norm (``ln1``) in the checkpoint is dropped when the model has
      none (``final_norm=False``, global pool), and the global-pool norm
      ``ln2`` may be missing (it keeps its initialisation);
    * the position table is resampled to the model's grid.

    Anything else missing or unexpected, and any other shape mismatch, raises
    :class:`CheckpointError` naming the file.
    """
    source = source_name(checkpoint)
    own = backbone.state_dict()
    extra_tokens = backbone.num_extra_tokens

    def convert(state):
        state = official_encoder_to_mmpretrain_backbone(state)
        if 'fc_norm.weight' in state and 'ln2.weight' in own:
            state['ln2.weight'] = state.pop('fc_norm.weight')
            state['ln2.bias'] = state.pop('fc_norm.bias')
        return state

    def resize(key, value, want):
        if key != 'pos_embed' or value.dim() != 3 or value.shape[-1] != want[-1]:
            return value
        return resize_prefixed_pos(value, extra_tokens, backbone.patch_embed.init_out_size,
                                   source)

    # a global-pool model (final_norm=False) has no final norm to take
    final_norm = None if getattr(backbone, 'final_norm', True) else _FINAL_NORM
    return load_encoder_state(backbone, checkpoint, prefix, _POOL_NORM_OR_DIST_TOKEN, resize,
                              'global-pool norm (ln2) / distillation token entries',
                              convert=convert,
                              also_ignore=final_norm)
