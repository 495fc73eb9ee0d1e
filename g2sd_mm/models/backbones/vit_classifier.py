"""mmpretrain ViT classifier backbones that load G2SD / MAE encoders strictly.

:class:`G2SDViT` and :class:`G2SDDistilledViT` are mmpretrain's own
``VisionTransformer`` and ``DistilledVisionTransformer`` (same modules, same
parameter names, SDPA attention), with one change: a ``Pretrained`` entry in
``init_cfg`` goes through :func:`g2sd_mm.checkpoint.load_vit_classifier_pretrained`, a strict
loader that understands the stage-1 exports, instead of mmengine's non-strict
``load_checkpoint``. Checkpoints trained with them therefore load into the
stock mmpretrain classes (no g2sd_mm needed at inference).

Why not stock ``init_cfg=dict(type='Pretrained')``: it loads with
``strict=False`` and logs missing keys as a warning, and for the distilled
model it is wrong in a way that does not show: the stage-1 position table has
``1 + H*W`` entries, and mmpretrain's resize hook assumes ``2 + H*W``, so it
resamples a non-square grid.

Position embedding of the distillation token: the encoder was pre-trained
with one class token, so the loader inserts a copy of the class-token slot
(for MAE/G2SD sin-cos tables, the zero vector) right after it, giving the
``[cls, dist, patches...]`` order of :class:`DistilledVisionTransformer`;
the distillation token itself starts as a copy of the class token. Both
tokens then train freely; their heads see different targets (labels vs the
teacher) and diverge. Patch position entries are resampled bicubically when
the pre-training grid differs from the model's.
"""
from mmpretrain.models.backbones import DistilledVisionTransformer, VisionTransformer
from mmpretrain.registry import MODELS

from ...checkpoint.loading import run_init_cfg
from ...checkpoint.vit_backbones import load_vit_classifier_pretrained

__all__ = ['G2SDViT', 'G2SDDistilledViT']


def _has_pretrained(init_cfg) -> bool:
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg] if init_cfg else []
    return any(c.get('type') == 'Pretrained' for c in cfgs)


class _StrictPretrainedInit:
    """Mixin: ``init_cfg`` ``Pretrained`` -> ``load_vit_classifier_pretrained``."""

    def init_weights(self) -> None:
        if _has_pretrained(self.init_cfg) and not self.is_init:
            run_init_cfg(self, load_vit_classifier_pretrained)
        else:
            super().init_weights()


@MODELS.register_module()
class G2SDViT(_StrictPretrainedInit, VisionTransformer):
    """mmpretrain ``VisionTransformer`` with strict G2SD/MAE initialisation.

    Same arguments and parameters as ``VisionTransformer`` (e.g.
    ``arch='deit-small'`` for ViT-S/16, ``'deit-tiny'`` for ViT-T/16). Used by
    the student-only baselines and the fine-tuned teachers.
    """


@MODELS.register_module()
class G2SDDistilledViT(_StrictPretrainedInit, DistilledVisionTransformer):
    """mmpretrain ``DistilledVisionTransformer`` (class + distillation token)
    with strict G2SD/MAE initialisation.

    With ``out_type='cls_token'`` it returns ``(cls_token, dist_token)``, as
    ``DeiTClsHead`` expects. See the module docstring for how the distillation
    token and its position entry are initialised from a one-token encoder.
    """
