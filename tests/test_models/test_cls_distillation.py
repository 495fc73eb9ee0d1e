"""Classification distillation: losses by hand, the distillation-token student,
strict initialisation from the stage-1 export, teacher loading and export."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from g2sd_mm.checkpoint import (CheckpointError, encoder_to_mmpretrain_backbone,
                                extract_student_state, load_vit_classifier_pretrained)
from g2sd_mm.checkpoint.layouts.mae import CLASSIFIER_PAIRS
from g2sd_mm.engine.layer_decay_optim_constructor import get_layer_id
from g2sd_mm.models import MaskedAutoencoderViT
from g2sd_mm.models.backbones import G2SDDistilledViT
from g2sd_mm.models.losses import HardDistillLoss, NKDLoss

ARCH_S = dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=64)
ARCH_T = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=128)
SMOOTH = dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')


def student_cfg(init_cfg=None, num_classes=3, eval_heads='average'):
    return dict(
        type='ImageClassifier',
        backbone=dict(type='G2SDDistilledViT', arch=ARCH_S, img_size=32, patch_size=8,
                      out_type='cls_token', init_cfg=init_cfg),
        head=dict(type='G2SDDistilledClsHead', num_classes=num_classes, in_channels=16,
                  loss=SMOOTH, eval_heads=eval_heads),
        data_preprocessor=dict(num_classes=num_classes, mean=[0, 0, 0], std=[1, 1, 1]))


def teacher_cfg(num_classes=3):
    return dict(
        type='ImageClassifier',
        backbone=dict(type='G2SDViT', arch=ARCH_T, img_size=32, patch_size=8,
                      out_type='avg_featmap', final_norm=False),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=32, loss=SMOOTH))


def build(**kwargs):
    init_default_scope('mmpretrain')
    cfg = dict(type='ClassificationDistiller', student=student_cfg(), teacher=teacher_cfg())
    cfg.update(kwargs)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    # zero-initialised heads would make every logit 0; give them values
    for p in model.parameters():
        if p.dim() == 2 and p.abs().sum() == 0:
            torch.nn.init.normal_(p, std=0.5)
    return model


def samples(labels, scores=None):
    out = []
    for i, label in enumerate(labels):
        s = DataSample().set_gt_label(label)
        if scores is not None:
            s.set_gt_score(scores[i])
        out.append(s)
    return out


# ------------------------------------------------------------------ losses
def _softmax(v):
    e = [math.exp(x) for x in v]
    return [x / sum(e) for x in e]


def test_hard_distillation_hand_value():
    s = torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    t = torch.tensor([[0.0, 3.0, 1.0], [4.0, 0.0, 0.0]])  # teacher top-1: 1, 0
    expected = (-math.log(_softmax([1.0, 0.0, -1.0])[1])
                - math.log(_softmax([0.5, 2.0, 0.0])[0])) / 2
    loss = HardDistillLoss()(s, t)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert HardDistillLoss(loss_weight=0.5)(s, t).item() == pytest.approx(expected / 2, rel=1e-6)
    # the ground truth does not matter, gradients do not reach the teacher
    t.requires_grad_(True)
    s.requires_grad_(True)
    HardDistillLoss()(s, t, torch.tensor([2, 2])).backward()
    assert t.grad is None and s.grad is not None
    with pytest.raises(ValueError, match='logits'):
        HardDistillLoss()(s, t[:, :2])


@pytest.mark.parametrize('temperature,alpha', [(1.0, 1.0), (2.0, 1.5)])
def test_nkd_hand_value(temperature, alpha):
    s = [[1.0, 0.0, -1.0, 0.5], [0.2, 2.0, 0.0, -0.3]]
    t = [[0.0, 3.0, 1.0, 0.1], [4.0, 0.0, 1.0, 0.5]]
    gt = [2, 1]
    total = 0.0
    for si, ti, g in zip(s, t, gt):
        ps, pt = _softmax(si), _softmax(ti)
        target = -pt[g] * math.log(ps[g])
        s_non = [x / temperature for i, x in enumerate(si) if i != g]
        t_non = [x / temperature for i, x in enumerate(ti) if i != g]
        qs, qt = _softmax(s_non), _softmax(t_non)
        non = -sum(a * math.log(b) for a, b in zip(qt, qs))
        total += target + alpha * temperature ** 2 * non
    expected = total / 2
    loss = NKDLoss(temperature=temperature, alpha=alpha)(torch.tensor(s), torch.tensor(t),
                                                       torch.tensor(gt))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # mixed (soft) labels use their dominant class
    soft = torch.tensor([[0.1, 0.0, 0.7, 0.2], [0.3, 0.6, 0.1, 0.0]])
    loss_soft = NKDLoss(temperature=temperature, alpha=alpha)(torch.tensor(s), torch.tensor(t),
                                                            soft)
    assert loss_soft.item() == pytest.approx(expected, rel=1e-6)


def test_nkd_bad_arguments():
    with pytest.raises(ValueError, match='temperature'):
        NKDLoss(temperature=0)
    with pytest.raises(ValueError, match='target'):
        NKDLoss()(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))


# --------------------------------------------------------------- distiller
def test_loss_equals_hand_computation():
    model = build()
    model.train()
    x = torch.randn(4, 3, 32, 32)
    labels = [0, 2, 1, 1]
    losses = model.loss(x, samples(labels))
    assert set(losses) == {'loss_cls', 'distill.loss_hard'}

    backbone, head = model.student.backbone, model.student.head
    with torch.no_grad():
        model.student.eval()  # the student has no dropout / drop path here: same outputs
        cls_tok, dist_tok = backbone(x)[-1]
        cls_logits = head.layers.head(cls_tok)
        dist_logits = head.layers.head_dist(dist_tok)
        t_logits = model.teacher.head(model.teacher.backbone(x))
    smooth = torch.full((4, 3), 0.1 / 3)
    smooth[torch.arange(4), torch.tensor(labels)] += 0.9
    ce_cls = -(smooth * F.log_softmax(cls_logits, 1)).sum(1).mean()
    ce_dist = F.cross_entropy(dist_logits, t_logits.argmax(1))
    assert losses['loss_cls'].item() == pytest.approx(0.5 * ce_cls.item(), rel=1e-5)
    assert losses['distill.loss_hard'].item() == pytest.approx(0.5 * ce_dist.item(), rel=1e-5)


def test_mixed_labels_with_deit_head():
    # mmpretrain's own DeiTClsHead also works as the student head (hard distillation)
    cfg = student_cfg()
    cfg['head'] = dict(type='DeiTClsHead', num_classes=3, in_channels=16, loss=SMOOTH)
    model = build(student=cfg, distill_weight=0.25)
    x = torch.randn(2, 3, 32, 32)
    soft = torch.tensor([[0.6, 0.4, 0.0], [0.0, 0.3, 0.7]])
    losses = model.loss(x, samples([0, 2], soft))
    with torch.no_grad():
        cls_logits, dist_logits = model.student_logits(x)
        t_logits = model.teacher_logits(x)
    target = 0.9 * soft + 0.1 / 3
    ce_cls = -(target * F.log_softmax(cls_logits, 1)).sum(1).mean()
    hard = F.cross_entropy(dist_logits, t_logits.argmax(1))
    assert losses['loss_cls'].item() == pytest.approx(0.75 * ce_cls.item(), rel=1e-5)
    assert losses['distill.loss_hard'].item() == pytest.approx(0.25 * hard.item(), rel=1e-5)


def build_nkd(**kwargs):
    return build(student=student_cfg(eval_heads='cls'),
                 distill_loss=dict(type='NKDLoss', temperature=1.0, alpha=1.0),
                 distill_weight=1.0, distill_head='cls', **kwargs)


def test_nkd_option_is_the_reference_recipe():
    """NKD on the class-token head alone, no CE term, the distillation head
    untrained, inference from the class-token head (engine_finetune_dis.py)."""
    model = build_nkd()
    model.train()
    x = torch.randn(2, 3, 32, 32)
    soft = torch.tensor([[0.6, 0.4, 0.0], [0.0, 0.3, 0.7]])
    losses = model.loss(x, samples([0, 2], soft))
    assert set(losses) == {'distill.loss_nkd'}
    with torch.no_grad():
        cls_logits, _ = model.student_logits(x)
        t_logits = model.teacher_logits(x)
    nkd = NKDLoss()(cls_logits, t_logits, soft)
    assert losses['distill.loss_nkd'].item() == pytest.approx(nkd.item(), rel=1e-6)
    losses['distill.loss_nkd'].backward()
    head = model.student.head.layers
    assert head.head.weight.grad.abs().sum() > 0
    # in the graph (DDP sees it used) but without gradient
    assert torch.count_nonzero(head.head_dist.weight.grad) == 0
    assert torch.count_nonzero(head.head_dist.bias.grad) == 0
    model.eval()
    preds = model.predict(x, samples([0, 1]))
    with torch.no_grad():
        cls_logits, _ = model.student_logits(x)
    torch.testing.assert_close(torch.stack([p.pred_score for p in preds]),
                               F.softmax(cls_logits, dim=1))


def test_nkd_needs_the_reference_wiring():
    with pytest.raises(ValueError, match="distill_head='cls'"):
        build(distill_loss=dict(type='NKDLoss'))
    with pytest.raises(ValueError, match="eval_heads='cls'"):
        build(distill_loss=dict(type='NKDLoss'), distill_head='cls', distill_weight=1.0)
    with pytest.raises(ValueError, match='distill_head'):
        build(distill_head='both')


def test_teacher_frozen_and_not_trained():
    model = build()
    model.train()
    assert not model.teacher.training and model.student.training
    losses = model.loss(torch.randn(2, 3, 32, 32), samples([0, 1]))
    sum(losses.values()).backward()
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    assert model.student.head.layers.head_dist.weight.grad is not None
    assert not any(k.startswith('teacher.') for k in model.state_dict())


def test_inference_averages_the_two_heads():
    model = build()
    model.eval()
    x = torch.randn(3, 3, 32, 32)
    preds = model.predict(x, samples([0, 1, 2]))
    with torch.no_grad():
        cls_logits, dist_logits = model.student_logits(x)
    expected = F.softmax((cls_logits + dist_logits) / 2, dim=1)
    got = torch.stack([p.pred_score for p in preds])
    torch.testing.assert_close(got, expected)


def test_bad_student_or_classes():
    bad_head = student_cfg()
    bad_head['head'] = dict(type='LinearClsHead', num_classes=3, in_channels=16)
    with pytest.raises(ValueError, match='DeiTClsHead'):
        build(student=bad_head)
    with pytest.raises(ValueError, match='3 and 5 classes'):
        build(teacher=teacher_cfg(num_classes=5))
    with pytest.raises(ValueError, match='distill_weight'):
        build(distill_weight=1.5)


# ----------------------------------------------------------- initialisation
@pytest.fixture
def gd_export(tmp_path):
    """A stage-1 student encoder exported in mmpretrain's VisionTransformer layout."""
    torch.manual_seed(1)
    mae = MaskedAutoencoderViT(arch=dict(embed_dim=16, depth=2, num_heads=2), img_size=32,
                               patch_size=8, decoder_embed_dim=8, decoder_depth=1,
                               decoder_num_heads=2)
    with torch.no_grad():
        mae.cls_token.normal_()
    encoder = {k: v for k, v in mae.state_dict().items()
               if not k.startswith(('decoder', 'mask_token'))}
    path = tmp_path / 'gd_backbone.pth'
    torch.save(dict(state_dict=encoder_to_mmpretrain_backbone(encoder)), path)
    return str(path), encoder


def test_distilled_student_loads_the_export_with_no_missing_key(gd_export):
    path, encoder = gd_export
    init_default_scope('mmpretrain')
    backbone = MODELS.build(student_cfg(dict(type='Pretrained', checkpoint=path))['backbone'])
    torch.manual_seed(5)
    backbone.init_weights()
    torch.testing.assert_close(backbone.cls_token, encoder['cls_token'])
    # the reference layout: the position table is the stage-1 one, 1:1
    torch.testing.assert_close(backbone.pos_embed, encoder['pos_embed'])
    torch.testing.assert_close(backbone.layers[1].ffn.layers[1].weight,
                               encoder['blocks.1.mlp.fc2.weight'])
    torch.testing.assert_close(backbone.ln1.weight, encoder['norm.weight'])
    # a fresh distillation token: (truncated) normal with std 0.02, not a copy
    dist = backbone.dist_token.detach()
    assert dist.abs().max() < 0.1 and 0.005 < dist.std() < 0.04
    assert not torch.allclose(dist, encoder['cls_token'])


def test_distillation_token_placement():
    """[cls, patches..., dist]: the token has no position entry and comes last."""
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='G2SDDistilledViT', arch=ARCH_S, img_size=32,
                                 patch_size=8, out_type='raw', drop_path_rate=0.0))
    backbone.init_weights()
    backbone.eval()
    assert backbone.pos_embed.shape == (1, 1 + 16, 16)
    x = torch.randn(2, 3, 32, 32)
    seen = {}
    backbone.layers[0].register_forward_pre_hook(lambda m, a: seen.setdefault('in', a[0]))
    with torch.no_grad():
        out = backbone(x)[-1]
        patches = backbone.patch_embed(x)[0]
    assert out.shape == (2, 1 + 16 + 1, 16)
    tokens = seen['in']
    torch.testing.assert_close(tokens[:, 0], (backbone.cls_token + backbone.pos_embed[:, 0])[0]
                               .expand(2, -1))
    torch.testing.assert_close(tokens[:, 1:-1], patches + backbone.pos_embed[:, 1:])
    torch.testing.assert_close(tokens[:, -1], backbone.dist_token[0].expand(2, -1))
    backbone.out_type = 'cls_token'
    with torch.no_grad():
        cls_tok, dist_tok = backbone(x)[-1]
    torch.testing.assert_close(cls_tok, out[:, 0])
    torch.testing.assert_close(dist_tok, out[:, -1])
    backbone.out_type = 'featmap'
    with torch.no_grad():
        fmap = backbone(x)[-1]
    assert fmap.shape == (2, 16, 4, 4)
    torch.testing.assert_close(fmap.flatten(2).transpose(1, 2), out[:, 1:-1])


def test_export_resized_to_another_grid(gd_export):
    path, encoder = gd_export
    init_default_scope('mmpretrain')
    cfg = student_cfg(dict(type='Pretrained', checkpoint=path))['backbone']
    cfg['img_size'] = 48  # 4x4 -> 6x6 patches
    backbone = MODELS.build(cfg)
    backbone.init_weights()
    assert backbone.pos_embed.shape == (1, 1 + 36, 16)
    torch.testing.assert_close(backbone.pos_embed[:, 0], encoder['pos_embed'][:, 0])


def test_deit_layout_checkpoint_is_refused(tmp_path):
    """A checkpoint of mmpretrain's DistilledVisionTransformer (a position slot for
    the distillation token) does not fit the reference layout: an error, not a
    silent resample."""
    from mmpretrain.models import DistilledVisionTransformer
    deit = DistilledVisionTransformer(arch=ARCH_S, img_size=32, patch_size=8)
    path = tmp_path / 'deit_layout.pth'
    torch.save(dict(state_dict=deit.state_dict()), path)
    init_default_scope('mmpretrain')
    backbone = MODELS.build(student_cfg(dict(type='Pretrained', checkpoint=str(path)))['backbone'])
    with pytest.raises(CheckpointError, match='deit_layout.pth.*pos_embed has 18 entries'):
        backbone.init_weights()


def test_wrong_arch_export_is_refused(gd_export):
    path, _ = gd_export
    init_default_scope('mmpretrain')
    cfg = student_cfg(dict(type='Pretrained', checkpoint=path))['backbone']
    cfg['arch'] = dict(ARCH_S, num_layers=3)
    backbone = MODELS.build(cfg)
    with pytest.raises(CheckpointError, match=r'gd_backbone.pth.*missing key.*layers\.2'):
        backbone.init_weights()
    cfg['arch'] = dict(ARCH_T)
    backbone = MODELS.build(cfg)
    with pytest.raises(CheckpointError, match='shape mismatch'):
        backbone.init_weights()


def test_teacher_from_an_mae_encoder_gets_fresh_global_pool_norm(gd_export):
    path, encoder = gd_export
    init_default_scope('mmpretrain')
    backbone = MODELS.build(dict(type='G2SDViT', arch=ARCH_S, img_size=32, patch_size=8,
                                 out_type='avg_featmap', final_norm=False,
                                 init_cfg=dict(type='Pretrained', checkpoint=path)))
    backbone.init_weights()
    torch.testing.assert_close(backbone.pos_embed, encoder['pos_embed'])
    assert torch.all(backbone.ln2.weight == 1)
    # the export's final norm has no place in a global-pool model: dropped, and said so
    report = load_vit_classifier_pretrained(backbone, path)
    assert report['missing'] == ['ln2.bias', 'ln2.weight']
    assert report['ignored'] == ['ln1.bias', 'ln1.weight']
    assert set(report['loaded']) == set(backbone.state_dict()) - set(report['missing'])


def _official_classifier(teacher: ImageClassifier):
    """The mmpretrain teacher's weights renamed to the official MAE fine-tuned layout."""
    import re
    state = {}
    for key, value in teacher.state_dict().items():
        for official, mm in CLASSIFIER_PAIRS:
            pattern = re.escape(mm).replace(r'\{i\}', r'(?P<i>\d+)').replace(
                r'\{w\}', r'(?P<w>weight|bias)') + '$'
            m = re.match(pattern, key)
            if m:
                state[official.format(**m.groupdict())] = value
                break
        else:
            raise AssertionError(f'no official name for {key}')
    return state


def test_teacher_checkpoint_layouts(tmp_path):
    init_default_scope('mmpretrain')
    torch.manual_seed(3)
    src = MODELS.build(teacher_cfg())
    mm_path, off_path = tmp_path / 'teacher_mm.pth', tmp_path / 'teacher_official.pth'
    torch.save(dict(state_dict=src.state_dict(), meta=dict()), mm_path)
    torch.save(dict(model=_official_classifier(src)), off_path)
    for path in (mm_path, off_path):
        model = build(teacher_ckpt=str(path))
        for name, value in src.state_dict().items():
            torch.testing.assert_close(model.teacher.state_dict()[name], value)
    # a teacher of another width is refused, naming the file
    wrong = MODELS.build(dict(teacher_cfg(), backbone=dict(
        teacher_cfg()['backbone'], arch=dict(ARCH_T, embed_dims=48)),
        head=dict(teacher_cfg()['head'], in_channels=48)))
    bad_path = tmp_path / 'teacher_48d.pth'
    torch.save(dict(state_dict=wrong.state_dict()), bad_path)
    with pytest.raises(CheckpointError, match='teacher_48d.pth.*shape mismatch'):
        build(teacher_ckpt=str(bad_path))


def test_student_export_loads_into_plain_mmpretrain_classifier(tmp_path):
    model = build()
    path = tmp_path / 'g2sd_cls.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    student = extract_student_state(str(path))
    # mmpretrain's ImageClassifier with g2sd_mm's registered backbone and head
    plain = ImageClassifier(
        backbone=dict(type='G2SDDistilledViT', arch=ARCH_S, img_size=32,
                      patch_size=8, out_type='cls_token'),
        head=dict(type='G2SDDistilledClsHead', num_classes=3, in_channels=16),
        data_preprocessor=dict(num_classes=3, mean=[0, 0, 0], std=[1, 1, 1]))
    assert isinstance(plain.backbone, G2SDDistilledViT)
    result = plain.load_state_dict(student, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    plain.eval()
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(plain(x, mode='tensor'), model.student(x, mode='tensor'))


def test_distillation_token_trains_at_the_full_lr():
    """As the reference's util/lr_decay.py: the token is outside the layer decay."""
    assert get_layer_id('student.backbone.dist_token', 12) == 13
    assert get_layer_id('backbone.dist_token', 12) == 13
    model = build()
    opt = copy.deepcopy(dict(
        type='OptimWrapper', constructor='LayerDecayOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        paramwise_cfg=dict(num_layers=2, layer_decay_rate=0.75)))
    from mmengine.optim import build_optim_wrapper
    wrapper = build_optim_wrapper(model, opt)

    def group_of(param):
        return next(g for g in wrapper.optimizer.param_groups
                    if any(p is param for p in g['params']))

    dist = group_of(model.student.backbone.dist_token)
    assert dist['weight_decay'] == 0.0
    assert dist['lr'] == pytest.approx(1e-3)
    assert group_of(model.student.backbone.cls_token)['lr'] == pytest.approx(1e-3 * 0.75 ** 3)
    assert not any(p is q for g in wrapper.optimizer.param_groups for p in g['params']
                   for q in model.teacher.parameters())
