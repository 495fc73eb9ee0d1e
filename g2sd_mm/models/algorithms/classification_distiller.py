"""G2SD stage 2 for image classification: DeiT-style distillation token."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.structures import BaseDataElement
from mmpretrain.registry import MODELS

from ...checkpoint.errors import CheckpointError
from ...checkpoint.layouts.mae import official_classifier_to_mmpretrain
from ...checkpoint.loading import load_state_dict_strict, state_dict_from_file
from .base_distiller import BaseDistiller


def _distilled_head(classifier: nn.Module) -> nn.Module:
    head = getattr(classifier, 'head', None)
    layers = getattr(head, 'layers', None)
    if not hasattr(classifier, 'extract_feat') or layers is None \
            or not hasattr(layers, 'head') or not hasattr(layers, 'head_dist'):
        raise ValueError(f'the student ({type(classifier).__name__} with head '
                         f'{type(head).__name__}) must be an ImageClassifier with a '
                         'distillation-token head (DeiTClsHead: layers.head + layers.head_dist) '
                         'on a backbone that returns (cls_token, dist_token), e.g. '
                         "G2SDDistilledViT(out_type='cls_token')")
    return head


def _num_classes(classifier: nn.Module, role: str) -> int:
    num = getattr(getattr(classifier, 'head', None), 'num_classes', None)
    if num is None:
        raise ValueError(f'the {role} ({type(classifier).__name__}) has no classification head')
    return num


def _targets(data_samples: List[BaseDataElement]) -> torch.Tensor:
    """Mixed soft labels ``(N, C)`` when mixup/cutmix ran, else labels ``(N,)``
    (the same rule as mmpretrain's ``ClsHead``)."""
    if 'gt_score' in data_samples[0]:
        return torch.stack([s.gt_score for s in data_samples])
    return torch.cat([s.gt_label for s in data_samples])


@MODELS.register_module()
class ClassificationDistiller(BaseDistiller):
    """Specific distillation of a ViT classifier with a distillation token.

    The student is an mmpretrain ``ImageClassifier``: a backbone with a class
    and a distillation token (:class:`G2SDDistilledViT`, initialised from the
    stage-1 export) and a two-head classifier (:class:`G2SDDistilledClsHead`
    or ``DeiTClsHead``). Two recipes of G2SD's reference implementation
    (``G2SD/engine_finetune_dis.py``):

    * hard distillation (default, ``distill_head='dist'``)::

        loss = (1 - distill_weight) * cls_loss(head(cls_token), labels)
               + distill_weight * HardDistillLoss(head_dist(dist_token), teacher logits)

      with ``distill_weight=0.5``; inference averages the two heads.
    * NKD (``distill_loss=dict(type='NKDLoss')``, ``distill_head='cls'``,
      ``distill_weight=1.0``)::

        loss = NKDLoss(head(cls_token), teacher logits, labels)

      on the class-token head alone, without a cross-entropy term; the
      distillation head is in the graph with weight 0 (no gradient, as in the
      reference) and inference uses the class-token head
      (``G2SDDistilledClsHead(eval_heads='cls')``, checked here).

    ``labels`` are the (mixup / cutmix, label-smoothed) targets the student's
    head loss normally gets. The teacher (a fine-tuned classifier) sees the
    same augmented batch as the student, runs in eval mode without autograd
    and is loaded strictly. Validation, test and export use the student alone.

    Args:
        student (dict): student classifier config (or ``dict(cfg_path=...)``).
        teacher (dict): teacher classifier config (or ``dict(cfg_path=...)``).
        teacher_ckpt (str, optional): teacher checkpoint (mmpretrain
            ``ImageClassifier`` or official MAE fine-tuned layout), strict.
        distill_loss (dict): default ``dict(type='HardDistillLoss')``.
        distill_weight (float): weight of the distillation loss; the
            class-token cross-entropy gets ``1 - distill_weight`` (left out
            when 0). Defaults to 0.5.
        distill_head (str): student head the distillation loss trains:
            ``'dist'`` (distillation token, default) or ``'cls'`` (class
            token; NKD). ``NKDLoss`` needs ``'cls'``.
        teacher_autocast (str, optional): see :class:`BaseDistiller`.
        data_preprocessor (dict, optional): by default the student's own
            ``ClsDataPreprocessor`` (with its mixup / cutmix batch augments).

    Loss keys: ``loss_cls`` (when its weight is not 0) and
    ``distill.loss_<name>`` (``loss_hard`` or ``loss_nkd``), already weighted.
    """

    def __init__(self,
                 student: Union[dict, nn.Module],
                 teacher: Union[dict, nn.Module],
                 teacher_ckpt: Optional[str] = None,
                 distill_loss: Optional[dict] = None,
                 distill_weight: float = 0.5,
                 distill_head: str = 'dist',
                 teacher_autocast: Optional[str] = None,
                 check_finite: bool = True,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(student=student, teacher=teacher, registry=MODELS,
                         teacher_ckpt=teacher_ckpt, teacher_autocast=teacher_autocast,
                         check_finite=check_finite, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        _distilled_head(self.student)
        s_classes = _num_classes(self.student, 'student')
        t_classes = _num_classes(self.teacher, 'teacher')
        if s_classes != t_classes:
            raise ValueError(f'student and teacher predict {s_classes} and {t_classes} '
                             'classes; the distillation head needs the same classes')
        if not 0.0 <= distill_weight <= 1.0:
            raise ValueError(f'distill_weight must be in [0, 1], got {distill_weight}')
        self.distill_weight = float(distill_weight)
        self.distill_loss = self.build_component(
            distill_loss or dict(type='HardDistillLoss'), MODELS, 'distill_loss')
        name = type(self.distill_loss).__name__
        self.distill_key = 'distill.loss_' + {'HardDistillLoss': 'hard',
                                              'NKDLoss': 'nkd'}.get(name, name.lower())
        if distill_head not in ('dist', 'cls'):
            raise ValueError(f"distill_head must be 'dist' or 'cls', got {distill_head!r}")
        if name == 'NKDLoss' and distill_head != 'cls':
            raise ValueError("NKDLoss trains the class-token head (G2SD's NKD recipe): set "
                             "distill_head='cls', distill_weight=1.0 and the student head's "
                             "eval_heads='cls' (configs/cls/g2sd_vits_cls_nkd.py)")
        eval_heads = getattr(self.student.head, 'eval_heads', 'average')
        if distill_head == 'cls' and eval_heads != 'cls':
            raise ValueError("with distill_head='cls' the distillation head is not trained; "
                             "the student must predict with its class-token head: use "
                             "G2SDDistilledClsHead(eval_heads='cls')")
        self.distill_head = distill_head

    def load_teacher_checkpoint(self, teacher: nn.Module, path: str) -> None:
        """mmpretrain classifier checkpoints load as they are; an official MAE
        fine-tuned ViT (``blocks.*``, ``fc_norm``, ``head``) is renamed first."""
        state = state_dict_from_file(path)
        if 'head.weight' in state and any(k.startswith('blocks.') for k in state):
            try:
                state = official_classifier_to_mmpretrain(state)
            except KeyError as e:
                raise CheckpointError(f'{path}: official-layout classifier with keys the '
                                      f'teacher does not have: {e}') from e
        load_state_dict_strict(teacher, state, role='teacher classifier', source=path)

    # ------------------------------------------------------------ training
    def student_logits(self, inputs: torch.Tensor):
        """``(cls_logits, dist_logits)`` of the two student heads."""
        head = self.student.head
        cls_token, dist_token = head.pre_logits(self.student.extract_feat(inputs))
        return head.layers.head(cls_token), head.layers.head_dist(dist_token)

    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher class scores ``(N, C)`` on the same (augmented) batch."""
        return self.run_teacher(self.teacher, inputs, mode='tensor')

    def loss(self, inputs: torch.Tensor,
             data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        cls_logits, dist_logits = self.student_logits(inputs)
        target = _targets(data_samples).to(cls_logits.device)
        teacher_logits = self.teacher_logits(inputs)
        losses = {}
        if self.distill_weight < 1.0:
            loss_cls = self.student.head.loss_module(cls_logits, target,
                                                     avg_factor=cls_logits.size(0))
            losses['loss_cls'] = (1.0 - self.distill_weight) * loss_cls
        if self.distill_head == 'dist':
            loss_dist = self.distill_loss(dist_logits, teacher_logits, target)
        else:
            # the unused head stays in the graph with weight 0 (no gradient; DDP
            # sees every parameter used), as in the reference
            loss_dist = self.distill_loss(cls_logits, teacher_logits, target) \
                + 0.0 * dist_logits.sum()
        losses[self.distill_key] = self.distill_weight * loss_dist
        return losses
