"""ViTDet's simple feature pyramid: strides 4-64 from one stride-16 ViT map."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from mmengine.registry import MODELS as ROOT_MODELS

__all__ = ['LayerNorm2d', 'SimpleFPN']


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an ``(N, C, H, W)`` map (per position).

    Registered as ``'LN2d'`` in mmengine's root ``MODELS`` (unless something
    already is), so ``build_norm_layer(dict(type='LN2d'), C)`` finds it from
    every scope (mmdet, mmseg) and with no default scope at all. ``eps``
    defaults to 1e-6 as in ViTDet, but note that ``build_norm_layer`` fills in
    ``eps=1e-5`` unless the norm config names it.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, **kwargs):
        super().__init__(num_channels, eps=eps, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


if 'LN2d' not in ROOT_MODELS.module_dict:
    ROOT_MODELS.register_module('LN2d', module=LayerNorm2d)


@MODELS.register_module()
class SimpleFPN(BaseModule):
    """Simple feature pyramid of ViTDet (Li et al., arXiv 2203.16527).

    From the stride-16 backbone map with ``C = backbone_channel`` channels:

    * stride 4: deconv 2x2/2 (C -> C/2), norm, GELU, deconv 2x2/2 (-> C/4);
    * stride 8: deconv 2x2/2 (-> C/2);
    * stride 16: the map itself;
    * stride 32: max-pool 2x2/2;

    each followed by a 1x1 conv and a 3x3 conv to ``out_channels`` (each with
    ``norm_cfg``, no activation). Levels past the fourth (``num_outs > 4``)
    are 1x1 max-pools with stride 2 of the previous output (stride 64 for the
    fifth).

    Args:
        backbone_channel (int): channels of the backbone map.
        in_channels (sequence of int, optional): channels after the four
            rescaling branches; must be ``[C/4, C/2, C, C]`` (checked; derived
            when omitted).
        out_channels (int): channels of every output.
        num_outs (int): number of outputs, at least 4.
        norm_cfg (dict, optional): norm after each conv and inside the
            stride-4 branch; ``None`` gives biased convs without norm.
        init_cfg (dict, optional): mmengine initialisation config.

    Example:
        >>> neck = SimpleFPN(32, out_channels=16)
        >>> [o.shape[-1] for o in neck((torch.rand(1, 32, 8, 8),))]
        [32, 16, 8, 4, 2]
    """

    def __init__(self,
                 backbone_channel: int,
                 in_channels: Optional[Sequence[int]] = None,
                 out_channels: int = 256,
                 num_outs: int = 5,
                 norm_cfg: Optional[dict] = dict(type='LN2d', eps=1e-6),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        c = int(backbone_channel)
        if c % 4:
            raise ValueError(f'backbone_channel must be divisible by 4, got {c}')
        expected = [c // 4, c // 2, c, c]
        if in_channels is not None and list(in_channels) != expected:
            raise ValueError(f'in_channels {list(in_channels)} do not match the rescaling '
                             f'branches of a {c}-channel backbone: {expected}')
        if num_outs < 4:
            raise ValueError(f'num_outs must be >= 4, got {num_outs}')
        self.backbone_channel = c
        self.in_channels = expected
        self.out_channels = int(out_channels)
        self.num_outs = int(num_outs)

        if norm_cfg is None:
            mid_norm: nn.Module = nn.Identity()
        else:
            mid_norm = build_norm_layer(norm_cfg, c // 2)[1]
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(c, c // 2, 2, 2), mid_norm, nn.GELU(),
            nn.ConvTranspose2d(c // 2, c // 4, 2, 2))
        self.fpn2 = nn.Sequential(nn.ConvTranspose2d(c, c // 2, 2, 2))
        self.fpn3 = nn.Identity()
        self.fpn4 = nn.MaxPool2d(2, 2)

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for ch in expected:
            self.lateral_convs.append(
                ConvModule(ch, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None))
            self.fpn_convs.append(
                ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg,
                           act_cfg=None))

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Args:
            inputs (sequence of Tensor): one ``(B, C, H, W)`` stride-16 map.

        Returns:
            tuple[Tensor]: ``num_outs`` maps ``(B, out_channels, 4H/s, 4W/s)``
            for strides ``s = 4, 8, 16, 32, 64, ...``.
        """
        if isinstance(inputs, torch.Tensor) or len(inputs) != 1:
            raise ValueError('SimpleFPN expects a 1-tuple with the backbone map')
        x = inputs[0]
        feats = [self.fpn1(x), self.fpn2(x), self.fpn3(x), self.fpn4(x)]
        outs: List[torch.Tensor] = [
            fpn(lat(f)) for f, lat, fpn in zip(feats, self.lateral_convs, self.fpn_convs)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
