"""NKD: normalised knowledge distillation for classification logits."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .hard_distill_loss import _check_logits


@MODELS.register_module()
class NKDLoss(nn.Module):
    """Normalised KD (Yang et al., ICCV 2023, arXiv:2303.13005), G2SD's
    classification option.

    With ``t`` the ground-truth class of each sample (for mixup / cutmix soft
    labels, the class with the largest weight), ``p = softmax(logits)`` and
    ``q = softmax(non-target logits / T)`` (the distribution over the other
    classes, renormalised):

        loss = loss_weight * mean_n [ -p_T[t] * log p_S[t]
                                      - alpha * T^2 * sum_{c != t} q_T[c] * log q_S[c] ]

    The target part is at temperature 1; the teacher terms carry no gradient.
    Computed in fp32 with autocast disabled.

    Args:
        temperature (float): ``T`` of the non-target part. Defaults to 1.0.
        alpha (float): weight of the non-target part. Defaults to 1.0.
        loss_weight (float): weight of the loss. Defaults to 1.0.
    """

    def __init__(self, temperature: float = 1.0, alpha: float = 1.0, loss_weight: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be positive, got {temperature}')
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.loss_weight = float(loss_weight)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        _check_logits(student_logits, teacher_logits)
        n, c = student_logits.shape
        if target.dim() == 2:  # soft (mixed) labels -> dominant class
            target = target.argmax(dim=1)
        if target.shape != (n,):
            raise ValueError(f'target must be (N,) labels or (N, C) scores, got '
                             f'{tuple(target.shape)} for {n} samples')
        with torch.autocast(device_type=student_logits.device.type, enabled=False):
            s, t = student_logits.float(), teacher_logits.detach().float()
            idx = target.long().view(n, 1)
            target_part = -(F.softmax(t, dim=1).gather(1, idx)
                            * F.log_softmax(s, dim=1).gather(1, idx)).squeeze(1)
            others = torch.ones_like(s, dtype=torch.bool).scatter_(1, idx, False)
            s_non = s[others].view(n, c - 1) / self.temperature
            t_non = t[others].view(n, c - 1) / self.temperature
            non_target = -(F.softmax(t_non, dim=1) * F.log_softmax(s_non, dim=1)).sum(dim=1)
            loss = target_part + self.alpha * self.temperature ** 2 * non_target
            return self.loss_weight * loss.mean()
