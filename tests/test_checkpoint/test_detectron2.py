"""detectron2 ViTDet checkpoints -> our Mask R-CNN: restricted pickle reading,
strict key conversion, and the box/anchor conventions of the two frameworks.

The detectron2 files are built here from the key names and shapes of
detectron2's ``mask_rcnn_vitdet`` modules (``d2_vitdet_shapes``, written from
detectron2's ViT, SimpleFeaturePyramid, StandardRPNHead, FastRCNNConvFCHead,
FastRCNNOutputLayers and MaskRCNNConvUpsampleHead), not from our key map.
"""
import collections
import math
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from g2sd_mm.checkpoint.detectron2_vitdet import convert_d2_vitdet, read_d2_checkpoint
from g2sd_mm.checkpoint.layouts.detectron2 import d2_vit_arch, d2_vitdet_to_mmdet
from g2sd_mm.checkpoint.pickle_reader import RestrictedPickleError, read_restricted_pickle
from g2sd_mm.checkpoint import CheckpointError, UnsafeCheckpointError
from g2sd_mm.checkpoint import load_state_dict_strict

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
B_CONFIG = osp.join(ROOT, 'configs/det/vitdet_mask-rcnn_vit-b-mae_simple-fpn_8xb8-lsj-100e_coco.py')
CONVERTER = osp.join(ROOT, 'tools/model_converters/vitdet_d2_to_mmdet.py')
TINY = dict(dim=64, depth=4, heads=4, glob=(1, 3), out=32, fc=64)
RGB_MEAN, RGB_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


# ------------------------------------------------------------ d2 layout
def d2_vitdet_shapes(dim, depth, heads, glob, img=1024, patch=16, window=14, out=256,
                     fc=1024, classes=80, adapters=0):
    """Key -> shape of detectron2's mask_rcnn_vitdet (``GeneralizedRCNN``) state dict."""
    s = {'backbone.net.patch_embed.proj.weight': (dim, 3, patch, patch),
         'backbone.net.patch_embed.proj.bias': (dim,),
         'backbone.net.pos_embed': (1, (224 // patch) ** 2 + 1, dim)}
    for i in range(depth):
        p, n = f'backbone.net.blocks.{i}.', img // patch if i in glob else window
        s.update({p + 'norm1.weight': (dim,), p + 'norm1.bias': (dim,),
                  p + 'attn.qkv.weight': (3 * dim, dim), p + 'attn.qkv.bias': (3 * dim,),
                  p + 'attn.proj.weight': (dim, dim), p + 'attn.proj.bias': (dim,),
                  p + 'attn.rel_pos_h': (2 * n - 1, dim // heads),
                  p + 'attn.rel_pos_w': (2 * n - 1, dim // heads),
                  p + 'norm2.weight': (dim,), p + 'norm2.bias': (dim,),
                  p + 'mlp.fc1.weight': (4 * dim, dim), p + 'mlp.fc1.bias': (4 * dim,),
                  p + 'mlp.fc2.weight': (dim, 4 * dim), p + 'mlp.fc2.bias': (dim,)})

    def conv_ln(name, cin, k):  # detectron2 Conv2d(bias=False, norm=LayerNorm)
        s.update({name + '.weight': (out, cin, k, k), name + '.norm.weight': (out,),
                  name + '.norm.bias': (out,)})

    def plain(name, *shape):
        s.update({name + '.weight': shape, name + '.bias': (shape[0],)})

    b = 'backbone.simfp_'
    s.update({b + '2.0.weight': (dim, dim // 2, 2, 2), b + '2.0.bias': (dim // 2,),
              b + '2.1.weight': (dim // 2,), b + '2.1.bias': (dim // 2,),
              b + '2.3.weight': (dim // 2, dim // 4, 2, 2), b + '2.3.bias': (dim // 4,),
              b + '3.0.weight': (dim, dim // 2, 2, 2), b + '3.0.bias': (dim // 2,)})
    for name, cin in (('2.4', dim // 4), ('3.1', dim // 2), ('4.0', dim), ('5.1', dim)):
        conv_ln(b + name, cin, 1)
    for name in ('2.5', '3.2', '4.1', '5.2'):
        conv_ln(b + name, out, 3)
    r = 'proposal_generator.rpn_head.'
    plain(r + 'conv.conv0', out, out, 3, 3)
    plain(r + 'conv.conv1', out, out, 3, 3)
    plain(r + 'objectness_logits', 3, out, 1, 1)
    plain(r + 'anchor_deltas', 12, out, 1, 1)
    for k in range(1, 5):
        conv_ln(f'roi_heads.box_head.conv{k}', out, 3)
        conv_ln(f'roi_heads.mask_head.mask_fcn{k}', out, 3)
    plain('roi_heads.box_head.fc1', fc, out * 49)
    plain('roi_heads.box_predictor.cls_score', classes + 1, fc)
    plain('roi_heads.box_predictor.bbox_pred', 4 * classes, fc)
    plain('roi_heads.mask_head.deconv', out, out, 2, 2)
    plain('roi_heads.mask_head.predictor', classes, out, 1, 1)
    for i in range(adapters):
        plain(f'stu_adapter.conv.{i}', out, out, 3, 3)
    return s


def d2_state(shapes, seed=0, std=1.0):
    rng = np.random.default_rng(seed)
    return collections.OrderedDict(
        (k, (std * rng.standard_normal(v)).astype(np.float32)) for k, v in shapes.items())


def write_pkl(path, model, **extra):
    with open(path, 'wb') as f:
        pickle.dump(dict(model=model, __author__='test', **extra), f)
    return str(path)


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp('cfg') / 'tiny_vitdet_maskrcnn.py'
    c = TINY['out']
    path.write_text(
        f'_base_ = [{B_CONFIG!r}]\n'
        f"model = dict(backbone=dict(arch=dict(_delete_=True, embed_dim={TINY['dim']}, "
        f"depth={TINY['depth']}, num_heads={TINY['heads']}), global_attn_indexes={TINY['glob']}, "
        'drop_path_rate=0.0, init_cfg=None),\n'
        f"    neck=dict(backbone_channel={TINY['dim']}, in_channels=None, out_channels={c}),\n"
        f'    rpn_head=dict(in_channels={c}, feat_channels={c}),\n'
        f'    roi_head=dict(bbox_roi_extractor=dict(out_channels={c}),\n'
        f'        bbox_head=dict(in_channels={c}, conv_out_channels={c}, '
        f"fc_out_channels={TINY['fc']}),\n"
        f'        mask_roi_extractor=dict(out_channels={c}),\n'
        f'        mask_head=dict(in_channels={c}, conv_out_channels={c})))\n')
    return str(path)


def _build(config):
    sys.path.insert(0, osp.dirname(CONVERTER))
    try:
        from vitdet_d2_to_mmdet import build_target
    finally:
        sys.path.pop(0)
    return build_target(config)[0]


@pytest.fixture(scope='module')
def tiny_model(tiny_config):
    return _build(tiny_config)


# ------------------------------------------------------ restricted pickle
class _Payload:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return self.fn, (self.arg,)


def _payloads(marker):
    import builtins
    return {
        'system': _Payload(os.system, f'touch {marker}'),
        'exec': _Payload(builtins.exec, f'open({str(marker)!r}, "w").close()'),
        'check_call': _Payload(subprocess.check_call, ['touch', str(marker)]),
    }


@pytest.mark.parametrize('kind', ['system', 'exec', 'check_call'])
def test_code_in_pickle_never_runs(tmp_path, kind):
    marker = tmp_path / 'pwned'
    weights = d2_state({'backbone.net.pos_embed': (1, 5, 4)})
    weights['roi_heads.evil'] = _payloads(marker)[kind]
    data = pickle.dumps(dict(model=weights, __author__='x'))
    # control: plain unpickling does run the payload
    pickle.loads(data)
    assert marker.exists()
    marker.unlink()
    path = tmp_path / 'evil.pkl'
    path.write_bytes(data)
    with pytest.raises(RestrictedPickleError) as err:
        read_restricted_pickle(path)
    assert isinstance(err.value, UnsafeCheckpointError)
    assert str(path) in str(err.value) and f'.{kind} is not allowed' in str(err.value)
    assert not marker.exists()
    with pytest.raises(RestrictedPickleError):  # the converter reads through it too
        read_d2_checkpoint(str(path))
    assert not marker.exists()


def test_codecs_encode_is_limited_to_latin1(tmp_path):
    import _codecs
    path = tmp_path / 'codec.pkl'
    path.write_bytes(pickle.dumps(_Payload(_codecs.encode, 'abc'), protocol=2))
    with pytest.raises(RestrictedPickleError, match=str(path) + '.*only latin-1'):
        read_restricted_pickle(path)


def test_truncated_pickle_names_the_file(tmp_path):
    path = tmp_path / 'model_final.pkl'
    data = pickle.dumps(dict(model=d2_state({'a': (64, 64)})))
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=f'{path}: cannot read pickle.*truncated'):
        read_restricted_pickle(path)
    with pytest.raises(FileNotFoundError, match='missing.pkl'):
        read_restricted_pickle(tmp_path / 'missing.pkl')


@pytest.mark.parametrize('protocol', [2, 4, 5])
def test_d2_like_pickle_round_trips(tmp_path, protocol):
    model = d2_state({'backbone.net.pos_embed': (1, 197, 8), 'x.weight': (3, 2, 1, 1)})
    data = dict(model=model, __author__='Detectron2 Model Zoo',
                matching_heuristics=True, scalars=[np.float32(1.5), 3, 'a'])
    path = tmp_path / 'd2.pkl'
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    back = read_restricted_pickle(path)
    assert isinstance(back['model'], collections.OrderedDict)
    assert list(back['model']) == list(model)
    for k, v in model.items():
        assert back['model'][k].dtype == np.float32 and np.array_equal(back['model'][k], v)
    assert back['__author__'] == 'Detectron2 Model Zoo' and back['matching_heuristics'] is True
    assert back['scalars'] == [1.5, 3, 'a']


# ------------------------------------------------------------- conversion
def test_tiny_d2_model_loads_strictly(tmp_path, tiny_model):
    src = d2_state(d2_vitdet_shapes(**TINY))
    path = write_pkl(tmp_path / 'tiny.pkl', src)
    res = convert_d2_vitdet(path, tiny_model.state_dict(), pixel_mean=RGB_MEAN,
                            pixel_std=RGB_STD)
    assert len(res['state']) == len(src) == len(tiny_model.state_dict())
    assert res['dropped'] == [] and res['info'] == {'__author__': 'test'}
    assert res['arch'] == dict(embed_dim=64, depth=4, num_heads=4)
    load_state_dict_strict(tiny_model, res['state'], role='tiny detector')
    own = tiny_model.state_dict()
    pairs = {'backbone.net.blocks.3.attn.rel_pos_h': 'backbone.blocks.3.attn.rel_pos_h',
             'backbone.simfp_5.1.norm.weight': 'neck.lateral_convs.3.ln.weight',
             'backbone.simfp_2.3.weight': 'neck.fpn1.3.weight',
             'proposal_generator.rpn_head.anchor_deltas.weight': 'rpn_head.rpn_reg.weight',
             'roi_heads.box_predictor.cls_score.weight': 'roi_head.bbox_head.fc_cls.weight',
             'roi_heads.mask_head.mask_fcn4.norm.bias': 'roi_head.mask_head.convs.3.ln.bias'}
    for d2_key, key in pairs.items():
        assert torch.equal(own[key], torch.from_numpy(src[d2_key])), key
    # every source tensor went somewhere, unchanged
    assert sorted(v.tobytes() for v in src.values()) == \
        sorted(v.numpy().tobytes() for v in own.values())


def test_leftovers_and_missing_keys_are_named(tmp_path, tiny_model):
    src = d2_state(d2_vitdet_shapes(**TINY))
    src['roi_heads.keypoint_head.score_lowres.weight'] = np.zeros((17, 32, 4, 4), np.float32)
    del src['roi_heads.box_predictor.bbox_pred.bias']
    path = write_pkl(tmp_path / 'odd.pkl', src)
    with pytest.raises(CheckpointError) as err:
        convert_d2_vitdet(path, tiny_model.state_dict())
    msg = str(err.value)
    assert path in msg
    assert 'roi_heads.keypoint_head.score_lowres.weight' in msg
    assert 'missing key(s): roi_head.bbox_head.fc_reg.bias' in msg


def test_wrong_arch_is_refused(tmp_path, tiny_model):
    # a ViT-L file (only the tensors the size is read from) given as --arch b
    large = d2_vitdet_shapes(1024, 24, 16, (5, 11, 17, 23))
    keep = [k for k in large if 'patch_embed' in k or k.endswith(('rel_pos_h', 'norm1.bias'))]
    path = write_pkl(tmp_path / 'vit_l.pkl', d2_state({k: large[k] for k in keep}))
    with pytest.raises(CheckpointError, match=r"'embed_dim': 1024, 'depth': 24.*--arch b.*"
                       r'wrong architecture'):
        convert_d2_vitdet(path, tiny_model.state_dict(), arch='b')
    # without --arch the shape check against the target refuses it too
    path = write_pkl(tmp_path / 'vit_s.pkl', d2_state(d2_vitdet_shapes(384, 4, 6, (1, 3))))
    with pytest.raises(CheckpointError, match='shape mismatch'):
        convert_d2_vitdet(path, tiny_model.state_dict())


def test_pixel_statistics_are_checked(tmp_path, tiny_model):
    src = d2_state(d2_vitdet_shapes(**TINY))
    src['pixel_mean'] = np.array(RGB_MEAN, np.float32).reshape(3, 1, 1)
    src['pixel_std'] = np.array(RGB_STD, np.float32).reshape(3, 1, 1)
    path = write_pkl(tmp_path / 'rgb.pkl', src)
    res = convert_d2_vitdet(path, tiny_model.state_dict(), pixel_mean=RGB_MEAN, pixel_std=RGB_STD)
    assert not any('pixel' in k for k in res['state'])
    src['pixel_mean'] = src['pixel_mean'][::-1].copy()  # a BGR model
    path = write_pkl(tmp_path / 'bgr.pkl', src)
    with pytest.raises(CheckpointError, match='pixel_mean .* differs .*RGB vs BGR'):
        convert_d2_vitdet(path, tiny_model.state_dict(), pixel_mean=RGB_MEAN, pixel_std=RGB_STD)


def test_g2sd_reference_student_adapters(tmp_path, tiny_model):
    src = d2_state(d2_vitdet_shapes(**TINY, adapters=5))
    path = tmp_path / 'student.pth'  # DetectionCheckpointer output: torch.save of tensors
    torch.save(dict(model={k: torch.from_numpy(v) for k, v in src.items()}, iteration=9),
               path)
    res = convert_d2_vitdet(str(path), tiny_model.state_dict())
    assert res['dropped'] == [f'stu_adapter.conv.{i}.{p}' for i in range(5)
                              for p in ('bias', 'weight')]
    assert res['info'] == {'iteration': 9}
    distiller = {'student.' + k: v for k, v in tiny_model.state_dict().items()}
    distiller.update({f'adapters.{i}.{p}': torch.empty(s) for i in range(5)
                      for p, s in (('weight', (32, 32, 3, 3)), ('bias', (32,)))})
    res = convert_d2_vitdet(str(path), distiller, prefix='student.', keep_adapters=True)
    assert res['dropped'] == [] and set(res['state']) == set(distiller)
    assert torch.equal(res['state']['adapters.4.weight'],
                       torch.from_numpy(src['stu_adapter.conv.4.weight']))


def test_full_vit_b_key_list_is_covered():
    """Shapes only: every key of the published ViT-B model maps onto our ViT-B
    config with the right shape, and every target key is filled."""
    shapes = d2_vitdet_shapes(768, 12, 12, (2, 5, 8, 11))
    assert len(shapes) == 245
    src = {k: torch.empty(s, device='meta') for k, s in shapes.items()}
    assert d2_vit_arch(src) == dict(embed_dim=768, depth=12, num_heads=12)
    mapped = d2_vitdet_to_mmdet(src)
    assert mapped['unmapped'] == []
    target = {k: tuple(v.shape) for k, v in _build(B_CONFIG).state_dict().items()}
    assert {k: tuple(v.shape) for k, v in mapped['state'].items()} == target


@pytest.mark.parametrize('arch', ['s', 't'])
def test_g2sd_reference_students_fit_our_student_configs(arch):
    """Shapes only: a G2SD reference student (d2 ViTDet-S/T + 5 ``stu_adapter``
    convs) fills our student-only config exactly (adapters dropped), and with
    the adapters our DetectionDistiller's state dict (``student.*`` +
    ``adapters.N``)."""
    dim, heads = dict(s=(384, 6), t=(192, 3))[arch]
    shapes = d2_vitdet_shapes(dim, 12, heads, (2, 5, 8, 11), adapters=5)
    src = {k: torch.empty(s, device='meta') for k, s in shapes.items()}
    student = _build(osp.join(ROOT, f'configs/det/vitdet_mask-rcnn_vit-{arch}-g2sd_simple-fpn_'
                              '8xb8-lsj-100e_coco.py'))
    mapped = d2_vitdet_to_mmdet(src)
    assert mapped['unmapped'] == mapped['adapters'] and len(mapped['adapters']) == 10
    assert {k: tuple(v.shape) for k, v in mapped['state'].items()} == \
        {k: tuple(v.shape) for k, v in student.state_dict().items()}
    if arch == 't':
        return
    distiller = _build(osp.join(ROOT, 'configs/det/g2sd_vits_maskrcnn.py'))
    mapped = d2_vitdet_to_mmdet(src, prefix='student.', keep_adapters=True)
    assert mapped['unmapped'] == []
    assert {k: tuple(v.shape) for k, v in mapped['state'].items()} == \
        {k: tuple(v.shape) for k, v in distiller.state_dict().items()}


# ------------------------------------------------------------ conventions
def _d2_anchors(size, stride, hw, ratios=(0.5, 1.0, 2.0), offset=0.0):
    """detectron2 DefaultAnchorGenerator, by hand: (row, col, anchor) order."""
    cell = []
    for r in ratios:
        w = math.sqrt(size * size / r)
        h = r * w
        cell.append([-w / 2, -h / 2, w / 2, h / 2])
    cell = torch.tensor(cell)
    ys, xs = torch.meshgrid(torch.arange(hw[0]) * stride + offset * stride,
                            torch.arange(hw[1]) * stride + offset * stride, indexing='ij')
    shifts = torch.stack([xs, ys, xs, ys], -1).reshape(-1, 1, 4).float()
    return (shifts + cell).reshape(-1, 4)


def _d2_apply_deltas(deltas, boxes, weights, clamp=math.log(1000.0 / 16)):
    """detectron2 Box2BoxTransform.apply_deltas, by hand."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx, cy = boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h
    dx, dy, dw, dh = (deltas[:, i] / weights[i] for i in range(4))
    dw, dh = dw.clamp(max=clamp), dh.clamp(max=clamp)
    px, py, pw, ph = dx * w + cx, dy * h + cy, torch.exp(dw) * w, torch.exp(dh) * h
    return torch.stack([px - pw / 2, py - ph / 2, px + pw / 2, py + ph / 2], 1)


def test_rpn_and_box_conventions_match_detectron2(tmp_path, tiny_model):
    src = d2_state(d2_vitdet_shapes(**TINY), seed=3, std=0.05)  # deltas within the clamps
    res = convert_d2_vitdet(write_pkl(tmp_path / 't.pkl', src), tiny_model.state_dict())
    load_state_dict_strict(tiny_model, res['state'], role='tiny detector')
    head = tiny_model.rpn_head.eval()
    feat = torch.randn(1, TINY['out'], 3, 5)
    # detectron2 StandardRPNHead by hand on the d2 tensors, flattened as d2 does
    t = {k: torch.from_numpy(v) for k, v in src.items()}
    r = 'proposal_generator.rpn_head.'
    x = F.relu(F.conv2d(feat, t[r + 'conv.conv0.weight'], t[r + 'conv.conv0.bias'], padding=1))
    x = F.relu(F.conv2d(x, t[r + 'conv.conv1.weight'], t[r + 'conv.conv1.bias'], padding=1))
    obj = F.conv2d(x, t[r + 'objectness_logits.weight'], t[r + 'objectness_logits.bias'])
    dl = F.conv2d(x, t[r + 'anchor_deltas.weight'], t[r + 'anchor_deltas.bias'])
    d2_obj = obj.permute(0, 2, 3, 1).flatten(1)[0]
    d2_dl = dl.view(1, 3, 4, 3, 5).permute(0, 3, 4, 1, 2).reshape(-1, 4)
    # ours, flattened as mmdet's RPNHead._predict_by_feat_single does
    with torch.no_grad():
        cls, reg = head.forward_single(feat)
    our_obj = cls[0].permute(1, 2, 0).reshape(-1)
    our_dl = reg[0].permute(1, 2, 0).reshape(-1, 4)
    torch.testing.assert_close(our_obj, d2_obj, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(our_dl, d2_dl, rtol=1e-5, atol=1e-5)
    # anchors: stride 8 level (size 64), same order and coordinates
    anchors = head.prior_generator.single_level_grid_priors((3, 5), level_idx=1, device='cpu')
    torch.testing.assert_close(anchors, _d2_anchors(64, 8, (3, 5)))
    # decoding the same delta: RPN weights (1, 1, 1, 1), ROI weights (10, 10, 5, 5);
    # dw = 9 is clamped at log(1000 / 16) by both
    delta = torch.tensor([[0.3, -0.2, 0.5, -0.4], [1.0, 2.0, 9.0, -0.7]])
    boxes = anchors[[2, 7]] + 100
    rpn_boxes = head.bbox_coder.decode(boxes, delta)
    torch.testing.assert_close(rpn_boxes, _d2_apply_deltas(delta, boxes, (1.0,) * 4))
    roi_coder = tiny_model.roi_head.bbox_head.bbox_coder
    torch.testing.assert_close(roi_coder.decode(boxes, delta),
                               _d2_apply_deltas(delta, boxes, (10.0, 10.0, 5.0, 5.0)))
    # the one difference: mmdet also clamps dw, dh from below (-log(1000 / 16)), d2 does not
    shrink = torch.tensor([[0.0, 0.0, 0.0, -9.0]])
    clamped = torch.tensor([[0.0, 0.0, 0.0, -math.log(1000.0 / 16)]])
    torch.testing.assert_close(head.bbox_coder.decode(boxes[:1], shrink),
                               _d2_apply_deltas(clamped, boxes[:1], (1.0,) * 4))
    assert not torch.allclose(head.bbox_coder.decode(boxes[:1], shrink),
                              _d2_apply_deltas(shrink, boxes[:1], (1.0,) * 4))
    # the decoded top proposal agrees end to end
    top = int(d2_obj.argmax())
    assert top == int(our_obj.argmax())
    all_anchors = _d2_anchors(64, 8, (3, 5))
    torch.testing.assert_close(head.bbox_coder.decode(anchors[top:top + 1], our_dl[top:top + 1]),
                               _d2_apply_deltas(d2_dl[top:top + 1], all_anchors[top:top + 1],
                                                (1.0,) * 4), rtol=1e-5, atol=1e-4)


def test_background_is_the_last_class(tiny_model):
    from mmengine.config import ConfigDict
    head = tiny_model.roi_head.bbox_head
    assert head.fc_cls.out_features == 81 and head.fc_reg.out_features == 320
    assert head.num_classes == 80 and not head.reg_class_agnostic
    rois = torch.tensor([[0, 10.0, 10, 50, 50], [0, 20, 20, 60, 80]])
    scores = torch.full((2, 81), -10.0)
    scores[0, 80] = 10.0  # background wins: no detection
    scores[1, 3] = 10.0  # class 3 (d2 row 3 = COCO 'motorcycle')
    cfg = ConfigDict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)
    out = head.predict_by_feat((rois,), (scores,), (torch.zeros(2, 320),),
                               [dict(img_shape=(100, 100))], rcnn_test_cfg=cfg)[0]
    assert out.labels.tolist() == [3]
    torch.testing.assert_close(out.bboxes, rois[1:, 1:])


def test_layernorm_eps_and_input_normalisation(tiny_model):
    norms = [m for m in tiny_model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and {m.eps for m in norms} == {1e-6}
    pre = tiny_model.data_preprocessor
    assert pre._channel_conversion  # BGR files -> RGB, as detectron2 ViTDet's input_format
    torch.testing.assert_close(pre.mean.flatten(), torch.tensor(RGB_MEAN))
    torch.testing.assert_close(pre.std.flatten(), torch.tensor(RGB_STD))
    assert pre.pad_size_divisor == 1024 and pre.pad_value == 0  # d2 square_pad=1024


@pytest.mark.slow  # two subprocesses importing mmdet
def test_converter_command_writes_a_loadable_checkpoint(tmp_path, tiny_config, tiny_model):
    src = d2_state(d2_vitdet_shapes(**TINY, adapters=5))
    path = write_pkl(tmp_path / 'student.pkl', src)
    out = tmp_path / 'out' / 'student.pth'
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONWARNINGS='ignore')
    run = subprocess.run([sys.executable, CONVERTER, path, str(out), '--arch', 'b',
                          '--config', tiny_config], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and 'wrong architecture' in run.stderr and not out.exists()
    run = subprocess.run([sys.executable, CONVERTER, path, str(out), '--config', tiny_config],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert 'dropped 10 stu_adapter tensors' in run.stdout
    load_state_dict_strict(tiny_model, str(out), role='tiny detector')
    meta = torch.load(out, weights_only=True)['meta']
    assert meta['converter'] == 'vitdet_d2_to_mmdet' and meta['d2___author__'] == 'test'
