"""CWD: channel-wise distillation of dense predictions."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


@MODELS.register_module()
class ChannelWiseDivergence(nn.Module):
    """Channel-wise distillation (Shu et al., ICCV 2021, arXiv:2011.13256),
    as used by G2SD on the UperNet decode-head logits.

    Each channel of each sample is turned into a distribution over the ``H*W``
    positions, ``softmax(logits / tau)``, and the student's distribution is
    pulled towards the teacher's:

        loss = loss_weight * tau^2 * sum_{n,c} KL(p_T[n, c] || p_S[n, c]) / (N * C)

    The loss is computed in fp32 with autocast disabled; the teacher logits
    are detached.

    Args:
        tau (float): softmax temperature. Defaults to 1.0.
        loss_weight (float): weight of the loss (G2SD: 3 in the run script,
            10 in the reference config). Defaults to 3.0.
        resize (bool): when the student and teacher maps differ in size,
            resize the student logits bilinearly (``align_corners=False``) to
            the teacher's ``(H, W)``; ``False`` raises ``ValueError`` instead.
            Defaults to True.
    """

    def __init__(self, tau: float = 1.0, loss_weight: float = 3.0, resize: bool = True):
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        self.tau = float(tau)
        self.loss_weight = float(loss_weight)
        self.resize = bool(resize)

    def forward(self, student_logits: torch.Tensor,
                teacher_logits: torch.Tensor) -> torch.Tensor:
        """Compute the weighted loss.

        Args:
            student_logits (Tensor): ``(N, C, H, W)`` student logits.
            teacher_logits (Tensor): ``(N, C, H', W')`` teacher logits.

        Returns:
            Tensor: a scalar (fp32).

        Raises:
            ValueError: different class counts, different batch sizes, or
                different spatial sizes with ``resize=False``.
        """
        if student_logits.dim() != 4 or teacher_logits.dim() != 4:
            raise ValueError(f'CWD expects (N, C, H, W) logits, got student '
                             f'{tuple(student_logits.shape)} and teacher '
                             f'{tuple(teacher_logits.shape)}')
        if student_logits.shape[1] != teacher_logits.shape[1]:
            raise ValueError(f'CWD needs the same classes: student logits have '
                             f'{student_logits.shape[1]} channels, teacher logits '
                             f'{teacher_logits.shape[1]}')
        if student_logits.shape[0] != teacher_logits.shape[0]:
            raise ValueError(f'CWD needs the same batch: student {student_logits.shape[0]} '
                             f'vs teacher {teacher_logits.shape[0]} samples')
        with torch.autocast(device_type=student_logits.device.type, enabled=False):
            s = student_logits.float()
            t = teacher_logits.detach().float()
            if s.shape[-2:] != t.shape[-2:]:
                if not self.resize:
                    raise ValueError(f'CWD: student logits {tuple(s.shape)} and teacher logits '
                                     f'{tuple(t.shape)} differ in size (resize=False)')
                s = F.interpolate(s, size=t.shape[-2:], mode='bilinear', align_corners=False)
            n, c = t.shape[:2]
            s = s.reshape(n * c, -1) / self.tau
            t = t.reshape(n * c, -1) / self.tau
            log_p_t = F.log_softmax(t, dim=1)
            kl = (log_p_t.exp() * (log_p_t - F.log_softmax(s, dim=1))).sum()
            loss = kl * self.tau ** 2 / (n * c)
        return loss * self.loss_weight

    def extra_repr(self) -> str:
        return f'tau={self.tau}, loss_weight={self.loss_weight}, resize={self.resize}'
