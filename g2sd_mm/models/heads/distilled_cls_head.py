"""Two-head classifier for the G2SD distilled student (class + distillation token)."""
from typing import List, Optional, Tuple

import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.heads import DeiTClsHead
from mmpretrain.registry import MODELS

_EVAL_HEADS = ('average', 'cls')


@MODELS.register_module()
class G2SDDistilledClsHead(DeiTClsHead):
    """``DeiTClsHead`` (``layers.head`` on the class token, ``layers.head_dist``
    on the distillation token) with the two choices of G2SD's reference
    implementation (``G2SD/models_vit.py``):

    * ``eval_heads``: what inference returns. ``'average'`` (default):
      ``(head(cls) + head_dist(dist)) / 2``, used with hard distillation;
      ``'cls'``: ``head(cls)`` alone, used with the NKD option, where the
      distillation head is not trained.
    * ``dist_init_std``: the distillation head's weights start from a
      truncated normal with this std (bias 0) after ``init_cfg`` ran; the
      reference initialises ``head_dist`` with std 0.02 and ``head`` with
      2e-5. ``None`` leaves both to ``init_cfg``.

    The same state-dict keys as ``DeiTClsHead``; training goes through
    :class:`~g2sd_mm.models.algorithms.ClassificationDistiller`, so this head
    has no loss of its own beyond ``VisionTransformerClsHead``'s.
    """

    def __init__(self, *args, eval_heads: str = 'average',
                 dist_init_std: Optional[float] = None, **kwargs):
        if eval_heads not in _EVAL_HEADS:
            raise ValueError(f'eval_heads must be one of {_EVAL_HEADS}, got {eval_heads!r}')
        super().__init__(*args, **kwargs)
        self.eval_heads = eval_heads
        self.dist_init_std = dist_init_std

    def init_weights(self) -> None:
        done = self.is_init
        super().init_weights()
        if not done and self.dist_init_std is not None:
            trunc_normal_(self.layers.head_dist.weight, std=self.dist_init_std)
            torch.nn.init.zeros_(self.layers.head_dist.bias)

    def forward(self, feats: Tuple[List[torch.Tensor]]) -> torch.Tensor:
        cls_token, dist_token = self.pre_logits(feats)
        cls_score = self.layers.head(cls_token)
        if self.eval_heads == 'cls':
            return cls_score
        return (cls_score + self.layers.head_dist(dist_token)) / 2
