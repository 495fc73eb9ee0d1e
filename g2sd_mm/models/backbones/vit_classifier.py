"""mmpretrain ViT classifier backbones that load G2SD / MAE encoders strictly.

:class:`G2SDViT` and :class:`G2SDDistilledViT` are mmpretrain's own
``VisionTransformer`` and ``DistilledVisionTransformer`` (same modules, same
parameter names, SDPA attention), with one change: a ``Pretrained`` entry in
``init_cfg`` goes through :func:`load_vit_classifier_pretrained`, a strict
loader that understands the stage-1 exports, instead of mmengine's non-strict
``load_checkpoint``. Checkpoints trained with them therefore load into the
stock mmpretrain classes (no g2sd_mm needed at inference).

Why not stock ``init_cfg=dict(type='Pretrained')``: it loads with
``strict=False`` and logs missing keys as a warning, and for the distilled
model it is wrong in a way that does not show: the stage-1 position table has
``1 + H*W`` entries, and mmpretrain's resize hook assumes ``2 + H*W``, so it
resamples a non-square grid.

Position embedding of the distillation token: the encoder was pre-trained
with one class token, so the loader inserts a copy of the class-token slot
(for MAE/G2SD sin-cos tables, the zero vector) right after it, giving the
``[cls, dist, patches...]`` order of :class:`DistilledVisionTransformer`;
the distillation token itself starts as a copy of the class token. Both
tokens then train freely; their heads see different targets (labels vs the
teacher) and diverge. Patch position entries are resampled bicubically when
the pre-training grid differs from the model's.
"""
import math
import re
from typing import Dict, Mapping, Optional, Union

import torch
from mmpretrain.models.backbones import DistilledVisionTransformer, VisionTransformer
from mmpretrain.registry import MODELS

from ...engine.safe_checkpoint import CheckpointError
from ..utils.key_mapping import official_encoder_to_mmpretrain_backbone
from ..utils.pos_embed import resize_pos_embed
from .vitdet import load_encoder_state, run_init_cfg, source_name

__all__ = ['G2SDViT', 'G2SDDistilledViT', 'load_vit_classifier_pretrained']

# May stay at their initial values: the classifier-only norm of a global-pool
# model (``ln2``, MAE's ``fc_norm``) is new when starting from a pre-trained
# encoder.
_MAY_MISS = re.compile(r'ln2\.(weight|bias)$')
_FINAL_NORM = re.compile(r'ln1\.(weight|bias)$')


def _has_pretrained(init_cfg) -> bool:
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg] if init_cfg else []
    return any(c.get('type') == 'Pretrained' for c in cfgs)


class _StrictPretrainedInit:
    """Mixin: ``init_cfg`` ``Pretrained`` -> :func:`load_vit_classifier_pretrained`."""

    def init_weights(self) -> None:
        if _has_pretrained(self.init_cfg) and not self.is_init:
            run_init_cfg(self, load_vit_classifier_pretrained)
        else:
            super().init_weights()


@MODELS.register_module()
class G2SDViT(_StrictPretrainedInit, VisionTransformer):
    """mmpretrain ``VisionTransformer`` with strict G2SD/MAE initialisation.

    Same arguments and parameters as ``VisionTransformer`` (e.g.
    ``arch='deit-small'`` for ViT-S/16, ``'deit-tiny'`` for ViT-T/16). Used by
    the student-only baselines and the fine-tuned teachers.
    """


@MODELS.register_module()
class G2SDDistilledViT(_StrictPretrainedInit, DistilledVisionTransformer):
    """mmpretrain ``DistilledVisionTransformer`` (class + distillation token)
    with strict G2SD/MAE initialisation.

    With ``out_type='cls_token'`` it returns ``(cls_token, dist_token)``, as
    ``DeiTClsHead`` expects. See the module docstring for how the distillation
    token and its position entry are initialised from a one-token encoder.
    """


def load_vit_classifier_pretrained(backbone: VisionTransformer,
                                   checkpoint: Union[str, Mapping[str, torch.Tensor]],
                                   prefix: Optional[str] = None) -> Dict[str, list]:
    """Strictly load ViT encoder weights into an mmpretrain ViT backbone.

    Accepts the same sources as :func:`g2sd_mm.models.backbones.load_vit_pretrained`:
    the stage-1 export (``*_backbone.pth``, mmpretrain layout), g2sd_mm stage-1
    checkpoints (``student.*``), official MAE / timm encoders and mmpretrain
    MAE or classifier checkpoints. Files are read with ``weights_only``.

    * MAE decoder, mask token, projector and classifier head keys are dropped;
    * for a model with a distillation token, ``dist_token`` and its position
      slot are derived from the class token when the checkpoint has none;
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
        if 'dist_token' in own and 'dist_token' not in state and 'cls_token' in state:
            state['dist_token'] = state['cls_token'].clone()
            pos = state.get('pos_embed')
            if pos is not None and pos.dim() == 3 and _has_class_slot(pos.shape[1]):
                state['pos_embed'] = torch.cat([pos[:, :1], pos[:, :1], pos[:, 1:]], dim=1)
        return state

    def resize(key, value, want):
        if key != 'pos_embed' or value.dim() != 3 or value.shape[-1] != want[-1]:
            return value
        n = value.shape[1] - extra_tokens
        side = math.isqrt(max(n, 0))
        if n <= 0 or side * side != n:
            raise CheckpointError(f'{source}: pos_embed has {value.shape[1]} entries, which is '
                                  f'not {extra_tokens} extra token(s) plus a square grid')
        return resize_pos_embed(value, (side, side), backbone.patch_embed.init_out_size,
                                num_prefix_tokens=extra_tokens)

    # a global-pool model (final_norm=False) has no final norm to take
    final_norm = None if getattr(backbone, 'final_norm', True) else _FINAL_NORM
    return load_encoder_state(backbone, checkpoint, prefix, _MAY_MISS, resize,
                              'global-pool norm (ln2) entries', convert=convert,
                              also_ignore=final_norm)


def _has_class_slot(entries: int) -> bool:
    side = math.isqrt(entries - 1)
    return side * side == entries - 1
