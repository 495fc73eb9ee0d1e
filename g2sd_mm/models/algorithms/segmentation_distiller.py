"""G2SD stage 2 for semantic segmentation: CWD on the decode-head logits."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.structures import BaseDataElement
from mmseg.registry import MODELS

from ...checkpoint.loading import load_state_dict_strict
from ..utils.recorder import OutputRecorder
from .base_distiller import BaseDistiller


def _logit_layer(segmentor: nn.Module, role: str) -> nn.Conv2d:
    """The decode head's classifier (``decode_head.conv_seg``) of ``segmentor``."""
    head = getattr(segmentor, 'decode_head', None)
    if head is None or not hasattr(segmentor, 'extract_feat'):
        raise ValueError(f'the {role} ({type(segmentor).__name__}) is not an encoder-decoder '
                         'segmentor with a decode_head')
    conv = getattr(head, 'conv_seg', None)
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f'the {role} decode head ({type(head).__name__}) has no conv_seg '
                         'classifier: CWD distils the logits it produces')
    return conv


@MODELS.register_module()
class SegmentationDistiller(BaseDistiller):
    """Specific distillation of a segmentor from a fine-tuned teacher segmentor.

    The student is an ordinary mmseg ``EncoderDecoder`` (e.g. ViT + UperNet)
    trained with its own losses (decode and auxiliary heads). On top,
    channel-wise distillation (:class:`ChannelWiseDivergence`) pulls the
    student's decode-head logits towards the teacher's.

    The student's forward runs once, inside its own ``loss``; its logits are
    read from ``decode_head.conv_seg`` with a forward hook (mmseg's
    ``BaseDecodeHead.loss`` calls ``self.forward`` directly, so a hook on the
    head itself never fires; ``conv_seg`` is the last layer of ``forward``).
    The teacher runs ``extract_feat`` and ``decode_head.forward`` only (no
    auxiliary head, no losses), in eval mode and without autograd.

    Args:
        student (dict): student segmentor config (or ``dict(cfg_path=...)``).
        teacher (dict): teacher segmentor config (or ``dict(cfg_path=...)``).
        teacher_ckpt (str, optional): teacher checkpoint, loaded strictly.
        distill_loss (dict): CWD config; default ``tau=1.0, loss_weight=3.0``.
        warmup_iters (int): iterations of a linear warm-up of the distillation
            loss; 0 (default) applies it at full weight from the start.
        teacher_autocast (str, optional): see :class:`BaseDistiller`.
        data_preprocessor (dict, optional): by default the student's
            ``SegDataPreProcessor``, shared by teacher and student.

    Loss keys: the student's own (``decode.loss_ce``, ``aux.loss_ce``, ...)
    and ``distill.loss_cwd``.
    """

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 teacher_ckpt: Optional[str] = None,
                 distill_loss: Optional[dict] = None,
                 warmup_iters: int = 0,
                 teacher_autocast: Optional[str] = None,
                 check_finite: bool = True,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(student=student, teacher=teacher, registry=MODELS,
                         teacher_ckpt=teacher_ckpt, teacher_autocast=teacher_autocast,
                         check_finite=check_finite, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        s_classes = _logit_layer(self.student, 'student').out_channels
        t_classes = _logit_layer(self.teacher, 'teacher').out_channels
        if s_classes != t_classes:
            raise ValueError(f'student and teacher decode heads predict {s_classes} and '
                             f'{t_classes} classes; CWD pairs the logits channel by channel')
        if warmup_iters < 0:
            raise ValueError(f'warmup_iters must be >= 0, got {warmup_iters}')
        self.distill_loss = self.build_component(
            distill_loss or dict(type='ChannelWiseDivergence'), MODELS, 'distill_loss')
        self.warmup_iters = warmup_iters

    def load_teacher_checkpoint(self, teacher: nn.Module, path: str) -> None:
        load_state_dict_strict(teacher, path, role='teacher segmentor')

    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher decode-head logits ``(N, C, H/4, W/4)`` (no auxiliary head, no losses)."""
        def forward():
            return self.teacher.decode_head.forward(self.teacher.extract_feat(inputs))
        return self.run_teacher(forward)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        with OutputRecorder(self.student.decode_head.conv_seg,
                            'student.decode_head.conv_seg') as logits:
            losses = self.student.loss(inputs, data_samples)
        teacher_logits = self.teacher_logits(inputs)
        factor = self.warmup_factor(self.warmup_iters)
        losses['distill.loss_cwd'] = self.distill_loss(logits.output, teacher_logits) * factor
        return losses
