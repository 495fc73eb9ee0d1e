"""detectron2 ViTDet Mask R-CNN <-> g2sd_mm / mmdet 3.x key map (pure functions).

Source: detectron2's ``mask_rcnn_vitdet`` (``GeneralizedRCNN`` with
``SimpleFeaturePyramid(ViT)``, ``StandardRPNHead`` with 2 convs,
``FastRCNNConvFCHead`` 4conv1fc with LN, ``FastRCNNOutputLayers``,
``MaskRCNNConvUpsampleHead`` 4 convs with LN) as in the model zoo
(``projects/ViTDet/configs/COCO/mask_rcnn_vitdet_{b,l,h}_*.py``) and in the G2SD
reference's detection students (same model plus ``stu_adapter.conv.N``, one
3x3 conv per FPN level). Target: ``MaskRCNN`` built from
``configs/_base_/models/mask-rcnn_vitdet-b_simple-fpn.py`` (``ViTDet``,
``SimpleFPN``, ``RPNHead(num_convs=2)``, ``Shared4Conv1FCBBoxHead`` and
``FCNMaskHead`` with ``LN2d``), and the ``adapters.N`` of ``DetectionDistiller``.

Key map (``N``/``k`` are indices; d2 counts box/mask convs from 1):

=============================================  =========================================
detectron2                                     g2sd_mm / mmdet
=============================================  =========================================
backbone.net.patch_embed.proj.*                backbone.patch_embed.proj.*
backbone.net.pos_embed  (1, 197, C)            backbone.pos_embed (same: 224 px + cls slot)
backbone.net.blocks.N.{norm1,attn.qkv,         backbone.blocks.N.(same names)
  attn.proj,attn.rel_pos_h,attn.rel_pos_w,
  norm2,mlp.fc1,mlp.fc2}
backbone.simfp_2.{0,1,3}  (deconv, LN, deconv) neck.fpn1.{0,1,3}
backbone.simfp_3.0  (deconv)                   neck.fpn2.0
backbone.simfp_S.{a}.{weight,norm.*}           neck.lateral_convs.(S-2).{conv.weight,ln.*}
backbone.simfp_S.{a+1}.{weight,norm.*}         neck.fpn_convs.(S-2).{conv.weight,ln.*}
  (a = 4, 1, 0, 1 for S = 2, 3, 4, 5; simfp_5.0 is the parameter-free max-pool)
proposal_generator.rpn_head.conv.convN.*       rpn_head.rpn_conv.N.conv.*
proposal_generator.rpn_head.conv.*  (1 conv)   rpn_head.rpn_conv.*
proposal_generator.rpn_head.objectness_logits  rpn_head.rpn_cls
proposal_generator.rpn_head.anchor_deltas      rpn_head.rpn_reg
roi_heads.box_head.conv{k}.{weight,norm.*}     roi_head.bbox_head.shared_convs.(k-1).*
roi_heads.box_head.fc{k}                       roi_head.bbox_head.shared_fcs.(k-1)
roi_heads.box_predictor.cls_score              roi_head.bbox_head.fc_cls
roi_heads.box_predictor.bbox_pred              roi_head.bbox_head.fc_reg
roi_heads.mask_head.mask_fcn{k}.{weight,norm}  roi_head.mask_head.convs.(k-1).*
roi_heads.mask_head.deconv                     roi_head.mask_head.upsample
roi_heads.mask_head.predictor                  roi_head.mask_head.conv_logits
stu_adapter.conv.N  (G2SD reference students)  adapters.N  (DetectionDistiller), optional
=============================================  =========================================

In the pyramid and the ROI heads, a d2 ``Conv2d`` with a norm (``weight``,
``norm.weight``, ``norm.bias``) becomes an mmcv ``ConvModule`` with
``conv.weight``, ``ln.weight``, ``ln.bias``.

Conventions, checked in both code bases (detectron2 main; mmdet 3.3.0, mmcv 2.1.0).
All of them hold for the shipped configs, so every tensor is copied unchanged:

* Box deltas. d2 ``Box2BoxTransform(weights)`` encodes ``dx = wx * (gx - px) / pw``,
  ``dw = ww * log(gw / pw)``; mmdet ``DeltaXYWHBBoxCoder`` normalises by
  ``(delta - mean) / std``. So d2 weights ``w`` are mmdet ``target_stds = 1 / w``:
  ROI head ``(10, 10, 5, 5)`` == ``(0.1, 0.1, 0.2, 0.2)``, RPN ``(1, 1, 1, 1)`` ==
  ``(1, 1, 1, 1)``, means 0. Both clamp ``dw, dh`` from above at
  ``log(1000 / 16)``; mmdet also clamps them from below at ``-log(1000 / 16)``
  (d2 does not), so a predicted box shrunk below 1/62.5 of its anchor/proposal
  comes out larger in mmdet. No config option removes that; it only touches
  degenerate boxes (``test_rpn_and_box_conventions_match_detectron2``).
* Box coordinates. Both use ``width = x2 - x1`` (no ``+ 1``) and the centre
  ``x1 + width / 2``; decoded boxes are clipped to the image in both.
* Anchors. d2 ``DefaultAnchorGenerator(sizes=[[32], ..., [512]],
  aspect_ratios=[0.5, 1, 2], strides=[4, ..., 64], offset=0.0)`` == mmdet
  ``AnchorGenerator(scales=[8], ratios=[0.5, 1, 2], strides=[4, ..., 64])``
  (``center_offset=0``): size = 8 x stride, ``ratio = h / w``,
  ``w = size / sqrt(ratio)``, centres at ``(x * stride, y * stride)``, the
  same ratio order, and anchors enumerated (row, column, anchor) in both.
* RPN layout. d2 ``objectness_logits`` has A channels (one sigmoid logit per
  anchor), ``anchor_deltas`` 4A channels ordered ``(anchor, dx dy dw dh)``;
  mmdet ``rpn_cls`` with ``use_sigmoid=True`` (``cls_out_channels = 1``) and
  ``rpn_reg`` use the same channel order, so the 1x1 convs copy unchanged.
  Each RPN conv is followed by ReLU in both (mmdet adds one more ReLU after
  the last, a no-op).
* Classes. d2 ``cls_score`` has 81 outputs with background **last** (index
  80); mmdet ``fc_cls`` has ``num_classes + 1`` outputs, background last too.
  The 80 foreground classes are the COCO categories sorted by category id in
  both (d2 ``thing_classes``, mmdet ``CocoDataset.METAINFO``), so no row is
  permuted. ``bbox_pred`` / ``fc_reg`` are class-specific, ``4 * 80`` rows
  ordered ``(class, dx dy dw dh)`` in both.
* Mask head. Class-specific in both: the predictor / ``conv_logits`` has one
  output channel per foreground class (80, same order), no background.
* LayerNorms. d2 ``LayerNorm`` (channels-first, heads and pyramid) and the
  ViT's ``nn.LayerNorm`` use ``eps = 1e-6``; our configs set ``LN2d`` with
  ``eps=1e-6`` (``build_norm_layer`` would otherwise insert 1e-5) and
  ``ViTDet`` uses 1e-6.
* Convolutions followed by a norm have no bias in either (d2 ``bias=not norm``,
  mmcv ``ConvModule(bias='auto')``); the deconvolutions and 1x1 predictors
  have biases in both.
* Input. d2 ViTDet configs set ``input_format='RGB'`` with
  ``pixel_mean = [123.675, 116.28, 103.53]``, ``pixel_std = [58.395, 57.12,
  57.375]`` (0-255 scale, RGB order); mmdet reads BGR and the data
  preprocessor converts (``bgr_to_rgb=True``) before normalising with the same
  mean/std. d2 pads the *normalised* image with 0 to a 1024 square
  (``square_pad=1024``); our COCO configs pad in the data preprocessor
  (``pad_size_divisor=1024``, value 0 after normalisation), not in the pipeline.
* Flattening. d2 box head ``nn.Flatten`` and mmdet ``x.flatten(1)`` both flatten
  ``(C, 7, 7)`` channel-major, so ``fc1`` weights copy unchanged.
* ROI levels. d2 ``assign_boxes_to_levels`` (canonical box 224 at level 4)
  and mmdet ``SingleRoIExtractor(finest_scale=56)`` pick the same level;
  ``ROIAlignV2`` == mmcv ``RoIAlign(aligned=True, sampling_ratio=0)``.
* Position tables. ``pos_embed`` is stored for 224 px with the class-token
  slot in both; d2 ``get_abs_pos`` and ``ViTDet.abs_pos`` drop the slot and
  resize the rest bicubically (``align_corners=False``). ``rel_pos_*`` have
  ``2 * 64 - 1`` rows in global blocks and ``2 * 14 - 1`` in windowed ones at
  1024 px in both.

detectron2 builds ``pixel_mean`` / ``pixel_std`` as non-persistent buffers;
files that still carry them have them returned in ``meta`` (not as weights).
"""
import re
from typing import Callable, Dict, List, Mapping, Optional, Tuple

__all__ = ['D2_PREFIXES', 'd2_vitdet_to_mmdet', 'd2_vit_arch', 'map_d2_key', 'split_d2_state']

#: top-level key prefixes of a detectron2 GeneralizedRCNN state dict
D2_PREFIXES = ('backbone.', 'proposal_generator.', 'roi_heads.')
# pre-conv layers of each SimpleFeaturePyramid stage (scale 4, 2, 1, 0.5 from stride 16)
_SFP_RESCALE_LAYERS = {2: 4, 3: 1, 4: 0, 5: 1}
_META_KEYS = ('pixel_mean', 'pixel_std')


def _conv_norm(rest: str) -> Optional[str]:
    """d2 ``Conv2d(norm=...)`` parameter -> mmcv ``ConvModule`` parameter (LN norm)."""
    if rest in ('weight', 'bias'):
        return 'conv.' + rest
    m = re.fullmatch(r'norm\.(weight|bias)', rest)
    return 'ln.' + m.group(1) if m else None


def _sfp(m: 're.Match') -> Optional[str]:
    stage, layer, rest = int(m.group(1)), int(m.group(2)), m.group(3)
    n = _SFP_RESCALE_LAYERS.get(stage)
    if n is None:
        return None
    level = stage - 2
    if layer < n:  # rescaling branch: deconvs and the LN between them
        if stage in (2, 3) and rest in ('weight', 'bias'):
            return f'neck.fpn{level + 1}.{layer}.{rest}'
        return None
    target = {n: 'lateral_convs', n + 1: 'fpn_convs'}.get(layer)
    conv = _conv_norm(rest)
    return f'neck.{target}.{level}.{conv}' if target and conv else None


def _indexed(template: str, offset: int = 0) -> Callable[['re.Match'], Optional[str]]:
    """``template`` filled with ``index + offset`` and the d2 conv/norm parameter."""
    def fill(m: 're.Match') -> Optional[str]:
        conv = _conv_norm(m.group(2))
        return template.format(int(m.group(1)) + offset, conv) if conv else None
    return fill


_RULES: List[Tuple['re.Pattern', Callable[['re.Match'], Optional[str]]]] = [
    (re.compile(r'backbone\.net\.(patch_embed\.proj\.(?:weight|bias)|pos_embed)'),
     lambda m: 'backbone.' + m.group(1)),
    (re.compile(r'backbone\.net\.blocks\.(\d+)\.((?:norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1'
                r'|mlp\.fc2)\.(?:weight|bias)|attn\.rel_pos_[hw])'),
     lambda m: f'backbone.blocks.{m.group(1)}.{m.group(2)}'),
    (re.compile(r'backbone\.simfp_(\d+)\.(\d+)\.(.+)'), _sfp),
    (re.compile(r'proposal_generator\.rpn_head\.conv\.conv(\d+)\.(weight|bias)'),
     lambda m: f'rpn_head.rpn_conv.{m.group(1)}.conv.{m.group(2)}'),
    (re.compile(r'proposal_generator\.rpn_head\.conv\.(weight|bias)'),
     lambda m: f'rpn_head.rpn_conv.{m.group(1)}'),
    (re.compile(r'proposal_generator\.rpn_head\.objectness_logits\.(weight|bias)'),
     lambda m: f'rpn_head.rpn_cls.{m.group(1)}'),
    (re.compile(r'proposal_generator\.rpn_head\.anchor_deltas\.(weight|bias)'),
     lambda m: f'rpn_head.rpn_reg.{m.group(1)}'),
    (re.compile(r'roi_heads\.box_head\.conv(\d+)\.(.+)'),
     _indexed('roi_head.bbox_head.shared_convs.{}.{}', -1)),
    (re.compile(r'roi_heads\.box_head\.fc(\d+)\.(weight|bias)'),
     lambda m: f'roi_head.bbox_head.shared_fcs.{int(m.group(1)) - 1}.{m.group(2)}'),
    (re.compile(r'roi_heads\.box_predictor\.cls_score\.(weight|bias)'),
     lambda m: f'roi_head.bbox_head.fc_cls.{m.group(1)}'),
    (re.compile(r'roi_heads\.box_predictor\.bbox_pred\.(weight|bias)'),
     lambda m: f'roi_head.bbox_head.fc_reg.{m.group(1)}'),
    (re.compile(r'roi_heads\.mask_head\.mask_fcn(\d+)\.(.+)'),
     _indexed('roi_head.mask_head.convs.{}.{}', -1)),
    (re.compile(r'roi_heads\.mask_head\.deconv\.(weight|bias)'),
     lambda m: f'roi_head.mask_head.upsample.{m.group(1)}'),
    (re.compile(r'roi_heads\.mask_head\.predictor\.(weight|bias)'),
     lambda m: f'roi_head.mask_head.conv_logits.{m.group(1)}'),
]
_ADAPTER = re.compile(r'stu_adapter\.conv\.(\d+)\.(weight|bias)')


def map_d2_key(key: str) -> Optional[str]:
    """The mmdet detector key of one detectron2 ViTDet Mask R-CNN key (``None``: no rule)."""
    for pattern, rule in _RULES:
        m = pattern.fullmatch(key)
        if m:
            return rule(m)
    return None


def split_d2_state(state: Mapping[str, object]) -> Tuple[Dict[str, object], Dict[str, object]]:
    """Split a d2 ``model`` dict into weights and ``pixel_mean``/``pixel_std`` (meta)."""
    weights = {k: v for k, v in state.items() if k not in _META_KEYS}
    meta = {k: v for k, v in state.items() if k in _META_KEYS}
    return weights, meta


def d2_vitdet_to_mmdet(state: Mapping[str, object], prefix: str = '',
                       keep_adapters: bool = False) -> Dict[str, object]:
    """Rename a detectron2 ViTDet Mask R-CNN state dict to our mmdet detector.

    Values are passed through unchanged (see the module docstring for why no
    tensor needs reordering). Pure: no model is built and nothing is checked
    against one; compare the result with the target's ``state_dict()``.

    Args:
        state (Mapping): d2 ``model`` dict (``pixel_mean``/``pixel_std`` must be
            split off first, see :func:`split_d2_state`).
        prefix (str): prepended to every detector key, e.g. ``'student.'``
            for a ``DetectionDistiller`` state dict.
        keep_adapters (bool): map the G2SD reference's ``stu_adapter.conv.N``
            to ``adapters.N`` (distiller keys, never prefixed); otherwise they
            count as unmapped.

    Returns:
        dict: ``{'state': {new key: value}, 'unmapped': [keys without a rule],
        'adapters': [stu_adapter keys seen]}``.

    Raises:
        KeyError: two source keys map to the same target key.
    """
    out: Dict[str, object] = {}
    unmapped: List[str] = []
    adapters: List[str] = []
    for key, value in state.items():
        m = _ADAPTER.fullmatch(key)
        if m:
            adapters.append(key)
            if not keep_adapters:
                unmapped.append(key)
                continue
            new = f'adapters.{m.group(1)}.{m.group(2)}'
        else:
            new = map_d2_key(key)
            if new is None:
                unmapped.append(key)
                continue
            new = prefix + new
        if new in out:
            raise KeyError(f'two detectron2 keys map to {new!r} (second: {key!r})')
        out[new] = value
    return dict(state=out, unmapped=sorted(unmapped), adapters=sorted(adapters))


def d2_vit_arch(state: Mapping[str, object]) -> Dict[str, int]:
    """``embed_dim``, ``depth``, ``num_heads`` of the ViT in a d2 ViTDet state dict.

    ``num_heads`` comes from the relative-position tables' width (head dim).

    Raises:
        KeyError: the dict has no ``backbone.net.patch_embed.proj.weight``.
    """
    key = 'backbone.net.patch_embed.proj.weight'
    if key not in state:
        raise KeyError(f'no {key!r}: not a detectron2 ViTDet state dict (first keys: '
                       f'{sorted(state)[:5]})')
    embed_dim = int(state[key].shape[0])
    blocks = {int(m.group(1)) for k in state
              for m in [re.match(r'backbone\.net\.blocks\.(\d+)\.', k)] if m}
    depth = max(blocks) + 1 if blocks else 0
    rel = state.get('backbone.net.blocks.0.attn.rel_pos_h')
    heads = embed_dim // int(rel.shape[1]) if rel is not None else 0
    return dict(embed_dim=embed_dim, depth=depth, num_heads=heads)
