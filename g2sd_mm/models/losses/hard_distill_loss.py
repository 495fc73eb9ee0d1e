"""DeiT's hard distillation: cross-entropy to the teacher's top-1 class."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class HardDistillLoss(nn.Module):
    """Hard-label distillation (Touvron et al., DeiT, arXiv:2012.12877).

        loss = loss_weight * mean_n CE(student_logits[n], argmax_c teacher_logits[n, c])

    The teacher's prediction on the *same augmented* image (after mixup /
    cutmix) is the target; the ground-truth label is not used. Computed in
    fp32 with autocast disabled; no gradient flows into the teacher logits.

    Args:
        loss_weight (float): weight of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                target: Optional[torch.Tensor] = None) -> torch.Tensor:
        _check_logits(student_logits, teacher_logits)
        with torch.autocast(device_type=student_logits.device.type, enabled=False):
            hard = teacher_logits.detach().argmax(dim=1)
            return self.loss_weight * F.cross_entropy(student_logits.float(), hard)


def _check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError('student and teacher logits must both be (N, num_classes), got '
                         f'{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}')
