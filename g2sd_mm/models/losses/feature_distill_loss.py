"""Feature-regression loss against (normalised) teacher features."""
from typing import Literal, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class FeatureDistillLoss(nn.Module):
    """Regress student features onto teacher features, computed in fp32.

    G2SD stage 1 uses Smooth-L1 (``beta=2.0``) against the teacher's decoder
    hidden states normalised by a LayerNorm without affine parameters
    (``eps=1e-6``), averaged over every supervised element.

    Args:
        criterion (str): ``'smooth_l1'``, ``'mse'`` or ``'l1'``.
        beta (float): Smooth-L1 threshold.
        norm_target (bool): LayerNorm (no affine) the teacher features over
            the channel dimension first.
        eps (float): LayerNorm epsilon.
        loss_weight (float): multiplier on the result.
        reduction (str): ``'mean'`` (over supervised elements) or ``'none'``.
    """

    def __init__(self,
                 criterion: Literal['smooth_l1', 'mse', 'l1'] = 'smooth_l1',
                 beta: float = 2.0,
                 norm_target: bool = True,
                 eps: float = 1e-6,
                 loss_weight: float = 1.0,
                 reduction: Literal['mean', 'none'] = 'mean'):
        super().__init__()
        if criterion not in ('smooth_l1', 'mse', 'l1'):
            raise ValueError(f"criterion must be 'smooth_l1', 'mse' or 'l1', got {criterion!r}")
        if reduction not in ('mean', 'none'):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        if beta <= 0:
            raise ValueError(f'beta must be > 0, got {beta}')
        self.criterion = criterion
        self.beta = beta
        self.norm_target = norm_target
        self.eps = eps
        self.loss_weight = loss_weight
        self.reduction = reduction

    def target(self, teacher_feats: torch.Tensor) -> torch.Tensor:
        """The regression target: fp32, detached, optionally LayerNorm-ed."""
        t = teacher_feats.detach().float()
        if self.norm_target:
            t = F.layer_norm(t, t.shape[-1:], eps=self.eps)
        return t

    def forward(self, student_feats: torch.Tensor, teacher_feats: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_feats (Tensor): ``(B, N, C)`` predictions.
            teacher_feats (Tensor): ``(B, N, C)`` raw teacher features.
            mask (Tensor, optional): ``(B, N)``, 1 where a token is supervised;
                all tokens when ``None``.

        Returns:
            Tensor: a scalar, or ``(B, N, C)`` element losses for ``reduction='none'``.
        """
        if student_feats.shape != teacher_feats.shape:
            raise ValueError(f'student features {tuple(student_feats.shape)} and teacher '
                             f'features {tuple(teacher_feats.shape)} differ in shape')
        with torch.autocast(device_type=student_feats.device.type, enabled=False):
            pred = student_feats.float()
            target = self.target(teacher_feats)
            if self.criterion == 'smooth_l1':
                elem = F.smooth_l1_loss(pred, target, reduction='none', beta=self.beta)
            elif self.criterion == 'mse':
                elem = F.mse_loss(pred, target, reduction='none')
            else:
                elem = F.l1_loss(pred, target, reduction='none')
            if self.reduction == 'none':
                return elem * self.loss_weight
            if mask is None:
                loss = elem.mean()
            else:
                if mask.shape != elem.shape[:2]:
                    raise ValueError(f'mask shape {tuple(mask.shape)} does not match tokens '
                                     f'{tuple(elem.shape[:2])}')
                m = mask.to(elem.dtype)
                loss = (elem.mean(-1) * m).sum() / m.sum().clamp_min(1.0)
        return loss * self.loss_weight
