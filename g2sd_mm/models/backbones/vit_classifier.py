"""mmpretrain ViT classifier backbones that load G2SD / MAE encoders strictly.

:class:`G2SDViT` is mmpretrain's own ``VisionTransformer`` (same modules, same
parameter names, SDPA attention) with one change: a ``Pretrained`` entry in
``init_cfg`` goes through :func:`g2sd_mm.checkpoint.load_vit_classifier_pretrained`, a strict
loader that understands the stage-1 exports, instead of mmengine's non-strict
``load_checkpoint``. Its checkpoints load into the stock class.

:class:`G2SDDistilledViT` is the G2SD classification student with the
reference implementation's distillation-token layout (``G2SD/models_vit.py``):
``[cls, patches..., dist]``, where the position table covers the class token
and the patches only (``1 + H*W`` entries, exactly the stage-1 table) and the
distillation token is appended after the position embedding is added. The
token is a fresh parameter (truncated normal, std 0.02) unless the checkpoint
holds one. This differs from mmpretrain's ``DistilledVisionTransformer``
(DeiT's ``[cls, dist, patches...]`` with a position slot for the token), so
the distilled student needs g2sd_mm at inference (``custom_imports``).

Why not stock ``init_cfg=dict(type='Pretrained')``: it loads with
``strict=False`` and logs missing keys as a warning only. Patch position
entries are resampled bicubically when the pre-training grid differs from
the model's.
"""
import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed as mm_resize_pos_embed
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
class G2SDDistilledViT(_StrictPretrainedInit, VisionTransformer):
    """ViT with a class token and a distillation token in the layout of the
    G2SD reference implementation.

    Token sequence ``[cls, patch_1..patch_HW, dist]``: the class token and the
    patches get ``pos_embed`` (``1 + H*W`` entries, as in the stage-1 encoder),
    the distillation token is appended afterwards without a position entry.
    The final norm runs over all tokens. Same arguments and parameter names as
    mmpretrain's ``VisionTransformer`` plus ``dist_token`` (``1, 1, C``).

    Outputs by ``out_type``: ``'cls_token'`` -> ``(cls_token, dist_token)``
    (what ``DeiTClsHead`` / :class:`G2SDDistilledClsHead` expect);
    ``'featmap'`` / ``'avg_featmap'`` use the patch tokens only; ``'raw'`` is
    the whole sequence.
    """

    num_extra_tokens = 1  # tokens with a position entry: the class token

    def __init__(self, *args, **kwargs):
        if not kwargs.get('with_cls_token', True):
            raise ValueError('G2SDDistilledViT needs the class token (with_cls_token=True)')
        super().__init__(*args, **kwargs)
        self.dist_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))

    def init_weights(self) -> None:
        if not self.is_init:
            # fresh token; a checkpoint that holds one overwrites it below
            trunc_normal_(self.dist_token, std=0.02)
        super().init_weights()

    def forward(self, x: torch.Tensor):
        batch = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(batch, -1, -1), x), dim=1)
        x = x + mm_resize_pos_embed(self.pos_embed, self.patch_resolution, patch_resolution,
                                    mode=self.interpolate_mode,
                                    num_extra_tokens=self.num_extra_tokens)
        x = torch.cat((x, self.dist_token.expand(batch, -1, -1)), dim=1)
        x = self.drop_after_pos(x)
        x = self.pre_norm(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, patch_resolution))
        return tuple(outs)

    def _format_output(self, x: torch.Tensor, hw):
        if self.out_type == 'cls_token':
            return x[:, 0], x[:, -1]
        if self.out_type == 'raw':
            return x
        # patch tokens only: drop the trailing distillation token
        return super()._format_output(x[:, :-1], hw)

