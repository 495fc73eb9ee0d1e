"""Turn a stage-1 (generic distillation) checkpoint into downstream initialisations."""
from typing import Dict

import torch

from .layouts.mae import official_to_mmpretrain
from .loading import state_dict_from_file
from .mae import read_mae_checkpoint

__all__ = ['student_encoder_state', 'encoder_to_mmpretrain_backbone', 'extract_student_state']

_DECODER_PREFIXES = ('decoder_', 'mask_token')


def student_encoder_state(path: str, trust_pickle: bool = False) -> Dict[str, torch.Tensor]:
    """The student's ViT encoder from a stage-1 checkpoint, official/timm layout.

    Accepts g2sd_mm stage-1 checkpoints (``student.*``) and the reference
    implementation's released students (official MAE layout + projector).
    Decoder, mask token and projector are dropped. The file is read with
    ``weights_only=True`` unless ``trust_pickle``.
    """
    state, _, _ = read_mae_checkpoint(path, trust_pickle=trust_pickle)
    return {k: v.clone() for k, v in state.items() if not k.startswith(_DECODER_PREFIXES)}


def encoder_to_mmpretrain_backbone(encoder: Dict[str, torch.Tensor],
                                   prefix: str = 'backbone.') -> Dict[str, torch.Tensor]:
    """Official/timm ViT encoder keys -> mmpretrain ``VisionTransformer`` keys.

    The result loads strictly into mmpretrain's ``VisionTransformer`` with
    ``final_norm=True`` (``ln1`` is the final norm) under ``prefix``.
    """
    mm = official_to_mmpretrain(encoder)
    return {prefix + k[len('backbone.'):]: v for k, v in mm.items()}


def extract_student_state(path: str, prefix: str = 'student.',
                          trust_pickle: bool = False) -> Dict[str, torch.Tensor]:
    """The student of a distiller checkpoint as a plain model state dict.

    Keeps exactly the ``student.*`` tensors (prefix stripped); adapters,
    projectors and (if present) teacher tensors are dropped. The result loads
    strictly into the student-only config's model. The file is read with
    ``weights_only=True`` unless ``trust_pickle``.
    """
    state = state_dict_from_file(path, trust_pickle=trust_pickle)
    student = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not student:
        raise KeyError(f'{path}: no {prefix}* tensors (is it a distillation checkpoint?)')
    return student
