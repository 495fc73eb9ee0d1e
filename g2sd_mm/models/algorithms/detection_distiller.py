"""G2SD stage 2 for detection: FRS distillation of a two-stage detector."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.structures import BaseDataElement

from ...checkpoint.loading import load_state_dict_strict
from ..utils.recorder import OutputRecorder
from .base_distiller import BaseDistiller


def _fpn_levels(detector: nn.Module, role: str) -> Tuple[int, int]:
    for name in ('neck', 'rpn_head'):
        if getattr(detector, name, None) is None:
            raise ValueError(f'the {role} detector has no {name}: FRS distillation needs a '
                             'detector with an FPN-style neck and an RPN head')
    neck = detector.neck
    channels = getattr(neck, 'out_channels', None)
    levels = getattr(neck, 'num_outs', None)
    if channels is None or levels is None:
        raise ValueError(f'the {role} neck ({type(neck).__name__}) does not declare '
                         'out_channels and num_outs')
    return int(channels), int(levels)


@MODELS.register_module()
class DetectionDistiller(BaseDistiller):
    """Specific distillation of a detector from a fine-tuned teacher detector.

    The student is an ordinary mmdet detector (e.g. ViTDet-style Mask R-CNN)
    trained with its own losses; on top, FRS losses compare its FPN features
    (through one 3x3 conv adapter per level) and RPN objectness with the
    teacher's, weighted by the teacher's objectness. The teacher runs only
    backbone + neck + RPN head, in eval mode and without autograd; the
    student's features are read with forward hooks during its own ``loss``.
    The distillation losses ramp up linearly over ``warmup_iters``.

    Args:
        student (dict): student detector config.
        teacher (dict): teacher detector config.
        teacher_ckpt (str, optional): teacher checkpoint, loaded strictly.
        distill_loss (dict): FRS loss config (weights 0.001 / 0.1 by default).
        warmup_iters (int): iterations of the linear distillation warm-up.
        teacher_autocast (str, optional): see :class:`BaseDistiller`.
        data_preprocessor (dict, optional): shared by teacher and student.

    Loss keys: the student's own (``loss_rpn_cls``, ``loss_bbox``, ...) and
    ``distill.loss_frs_feat``, ``distill.loss_frs_obj``.
    """

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 teacher_ckpt: Optional[str] = None,
                 distill_loss: Optional[dict] = None,
                 warmup_iters: int = 500,
                 teacher_autocast: Optional[str] = None,
                 check_finite: bool = True,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(student=student, teacher=teacher, registry=MODELS,
                         teacher_ckpt=teacher_ckpt, teacher_autocast=teacher_autocast,
                         check_finite=check_finite, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        s_channels, s_levels = _fpn_levels(self.student, 'student')
        t_channels, t_levels = _fpn_levels(self.teacher, 'teacher')
        if s_levels != t_levels:
            raise ValueError(f'student and teacher necks output {s_levels} and {t_levels} '
                             'FPN levels; FRS distillation pairs them level by level')
        self.adapters = nn.ModuleList(
            nn.Conv2d(s_channels, t_channels, 3, padding=1) for _ in range(s_levels))
        self.distill_loss = self.build_component(distill_loss or dict(type='FRSLoss'),
                                                 MODELS, 'distill_loss')
        self.warmup_iters = warmup_iters

    def load_teacher_checkpoint(self, teacher: nn.Module, path: str) -> None:
        load_state_dict_strict(teacher, path, role='teacher detector')

    def teacher_outputs(self, inputs: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Teacher FPN features and RPN objectness logits (no ROI heads, no losses)."""
        def forward():
            feats = self.teacher.extract_feat(inputs)
            objectness, _ = self.teacher.rpn_head(feats)
            return list(feats), list(objectness)
        return self.run_teacher(forward)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        with OutputRecorder(self.student.neck, 'student.neck') as neck, \
                OutputRecorder(self.student.rpn_head, 'student.rpn_head') as rpn:
            losses = self.student.loss(inputs, data_samples)
        student_feats = [adapter(f) for adapter, f in zip(self.adapters, neck.output)]
        student_obj = list(rpn.output[0])
        teacher_feats, teacher_obj = self.teacher_outputs(inputs)
        factor = self.warmup_factor(self.warmup_iters)
        distill = self.distill_loss(student_feats, teacher_feats, student_obj, teacher_obj)
        losses.update({f'distill.{k}': v * factor for k, v in distill.items()})
        return losses
