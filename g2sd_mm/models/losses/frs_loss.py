"""FRS: feature and objectness distillation weighted by teacher objectness."""
from typing import Dict, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS


@MODELS.register_module()
class FRSLoss(nn.Module):
    """Feature-richness-score distillation on FPN levels (Zhixing et al.,
    NeurIPS 2021), as used by G2SD for Mask R-CNN.

    For each level the mask is ``max over anchors of sigmoid(teacher RPN
    objectness)`` (detached), ``(B, 1, H, W)``, and

    * feature loss  = sum((teacher - student)^2 * mask) / sum(mask), the squared
      error summed over channels;
    * objectness loss = sum(BCE(sigmoid(student_obj), sigmoid(teacher_obj)) * mask)
      / sum(mask), summed over anchors.

    Both are summed over levels and computed in fp32.

    Args:
        feat_weight (float): weight of the feature loss (G2SD: 0.001).
        obj_weight (float): weight of the objectness loss (G2SD: 0.1).
    """

    def __init__(self, feat_weight: float = 0.001, obj_weight: float = 0.1):
        super().__init__()
        self.feat_weight = feat_weight
        self.obj_weight = obj_weight

    @staticmethod
    def richness_mask(teacher_obj: torch.Tensor) -> torch.Tensor:
        """``(B, A, H, W)`` objectness logits -> ``(B, 1, H, W)`` mask in [0, 1]."""
        return teacher_obj.detach().float().sigmoid().amax(dim=1, keepdim=True)

    def forward(self, student_feats: Sequence[torch.Tensor],
                teacher_feats: Sequence[torch.Tensor],
                student_obj: Sequence[torch.Tensor],
                teacher_obj: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Compute both losses.

        Args:
            student_feats: per level ``(B, C, H, W)`` adapted student features.
            teacher_feats: per level ``(B, C, H, W)`` teacher features.
            student_obj: per level ``(B, A, H, W)`` student RPN objectness logits.
            teacher_obj: per level ``(B, A, H, W)`` teacher RPN objectness logits.

        Returns:
            dict: ``loss_frs_feat`` and ``loss_frs_obj`` (weighted).
        """
        n = len(teacher_feats)
        if not (len(student_feats) == len(student_obj) == len(teacher_obj) == n):
            raise ValueError(f'FRS needs the same number of levels everywhere: student feats '
                             f'{len(student_feats)}, teacher feats {n}, student objectness '
                             f'{len(student_obj)}, teacher objectness {len(teacher_obj)}')
        feat_loss = student_feats[0].new_zeros((), dtype=torch.float32)
        obj_loss = feat_loss.clone()
        with torch.autocast(device_type=feat_loss.device.type, enabled=False):
            for level, (s, t, so, to) in enumerate(
                    zip(student_feats, teacher_feats, student_obj, teacher_obj)):
                if s.shape != t.shape:
                    raise ValueError(f'FPN level {level}: student features {tuple(s.shape)} '
                                     f'vs teacher features {tuple(t.shape)}')
                if so.shape != to.shape:
                    raise ValueError(f'FPN level {level}: student objectness {tuple(so.shape)} '
                                     f'vs teacher objectness {tuple(to.shape)}')
                mask = self.richness_mask(to)
                norm = mask.sum().clamp_min(1e-6)
                feat_loss = feat_loss + ((t.detach().float() - s.float()) ** 2 * mask).sum() / norm
                bce = F.binary_cross_entropy_with_logits(
                    so.float(), to.detach().float().sigmoid(), reduction='none')
                obj_loss = obj_loss + (bce * mask).sum() / norm
        return dict(loss_frs_feat=feat_loss * self.feat_weight,
                    loss_frs_obj=obj_loss * self.obj_weight)
