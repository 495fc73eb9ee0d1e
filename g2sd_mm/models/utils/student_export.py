"""Turn a stage-1 (generic distillation) checkpoint into downstream initialisations."""
from typing import Dict

import torch

from .key_mapping import official_to_mmpretrain
from .mae_checkpoint import read_mae_checkpoint

_DECODER_PREFIXES = ('decoder_', 'mask_token')


def student_encoder_state(path: str) -> Dict[str, torch.Tensor]:
    """The student's ViT encoder from a stage-1 checkpoint, official/timm layout.

    Accepts g2sd_mm stage-1 checkpoints (``student.*``) and the reference
    implementation's released students (official MAE layout + projector).
    Decoder, mask token and projector are dropped.
    """
    state, _, _ = read_mae_checkpoint(path)
    return {k: v.clone() for k, v in state.items() if not k.startswith(_DECODER_PREFIXES)}


def encoder_to_mmpretrain_backbone(encoder: Dict[str, torch.Tensor],
                                   prefix: str = 'backbone.') -> Dict[str, torch.Tensor]:
    """Official/timm ViT encoder keys -> mmpretrain ``VisionTransformer`` keys.

    The result loads strictly into mmpretrain's ``VisionTransformer`` with
    ``final_norm=True`` (``ln1`` is the final norm) under ``prefix``.
    """
    mm = official_to_mmpretrain(encoder)
    return {prefix + k[len('backbone.'):]: v for k, v in mm.items()}
