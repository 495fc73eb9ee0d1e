"""Every config parses; the stage-1 configs build with the expected sizes and recipe."""
import glob
import os.path as osp

import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from g2sd_mm.checkpoint import encoder_to_mmpretrain_backbone

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_parses(path):
    cfg = Config.fromfile(path)
    assert cfg.get('default_scope') and 'model' in cfg


def _count(module, skip=()):
    return sum(p.numel() for k, p in module.named_parameters() if not k.startswith(skip))


DECODER = ('decoder', 'mask_token')


@pytest.mark.parametrize('name,student_enc,timm_name,mm_arch', [
    ('g2sd_vit-small-p16_gd_8xb512-amp-300e_in1k.py', 21.67e6, 'vit_small_patch16_224',
     'deit-small'),
    ('g2sd_vit-tiny-p16_gd_8xb512-amp-300e_in1k.py', 5.52e6, 'vit_tiny_patch16_224',
     'deit-tiny'),
])
def test_full_size_gd_configs(name, student_enc, timm_name, mm_arch):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'pretrain', name))
    assert cfg.model.teacher_ckpt.endswith('mae_pretrain_vit_base_full.pth')
    assert cfg.model.mask_ratio == 0.75 and cfg.model.target_layer == 4
    assert cfg.model.loss.beta == 2.0 and cfg.model.supervise == 'all'
    opt = cfg.optim_wrapper
    assert opt.type == 'AnyDeviceAmpOptimWrapper'
    assert opt.optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    assert opt.optimizer.betas == (0.9, 0.95) and opt.optimizer.weight_decay == 0.05
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 4096
    assert cfg.train_cfg.max_epochs == 300
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == cosine.begin == 10 and cosine.eta_min == 2.5e-6
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert crop.crop_ratio_range == (0.2, 1.0) and crop.interpolation == 'bicubic'

    init_default_scope('mmpretrain')
    cfg.model.teacher_ckpt = None
    model = MODELS.build(cfg.model)
    assert _count(model.teacher, DECODER) == pytest.approx(85.8e6, rel=2e-3)  # ViT-B/16
    assert _count(model.student, DECODER) == pytest.approx(student_enc, rel=2e-3)
    assert len(model.teacher.decoder_blocks) == 4  # only blocks 1..k exist
    assert model.projector.fc2.out_features == 512
    # the exported encoder fits timm's and mmpretrain's reference ViTs exactly
    encoder = {k: v for k, v in model.student.state_dict().items() if not k.startswith(DECODER)}
    res = timm.create_model(timm_name, pretrained=False, num_classes=0).load_state_dict(encoder)
    assert not res.missing_keys and not res.unexpected_keys
    mm = VisionTransformer(arch=mm_arch, final_norm=True)
    backbone = {k[len('backbone.'):]: v
                for k, v in encoder_to_mmpretrain_backbone(encoder).items()}
    res = mm.load_state_dict(backbone, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    loss = model.loss(torch.randn(1, 3, 224, 224))['loss_gd']
    assert loss.isfinite()


def _det_sample(size):
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                         pad_shape=(size, size),
                                         batch_input_shape=(size, size),
                                         scale_factor=(1.0, 1.0)))
    inst = InstanceData()
    inst.bboxes = torch.tensor([[100.0, 120.0, 400.0, 380.0]])
    inst.labels = torch.tensor([3])
    mask = np.zeros((1, size, size), dtype=np.uint8)
    mask[0, 120:380, 100:400] = 1
    inst.masks = BitmapMasks(mask, size, size)
    sample.gt_instances = inst
    return sample


@pytest.mark.slow
def test_full_size_detection_distiller_builds_decays_and_runs_1024px():
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'det', 'g2sd_vits_maskrcnn.py'))
    assert cfg.train_dataloader.batch_size * 8 == 64 and cfg.train_cfg.max_iters == 184375
    assert cfg.param_scheduler[1].milestones == [163889, 177546]
    assert cfg.model.distill_loss.feat_weight == 0.001 and cfg.model.warmup_iters == 500
    cfg.model.teacher_ckpt = None
    cfg.model.teacher_autocast = None  # bf16 is slow on CPUs without bf16 units
    cfg.model.student.backbone = dict(init_cfg=None)
    model = DET_MODELS.build(cfg.model)
    count = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
    assert count(model.student) == pytest.approx(44.5, abs=0.5)   # ViT-S Mask R-CNN
    assert count(model.teacher) == pytest.approx(110.9, abs=0.5)  # ViT-B Mask R-CNN
    assert not hasattr(model.student.backbone.blocks[0].drop_path1, 'drop_prob')  # Identity
    assert model.student.backbone.blocks[11].drop_path1.drop_prob == pytest.approx(0.1)

    # layer-wise lr decay 0.7 reaches the student's backbone inside the distiller
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr_of = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lr_of[id(p)] = group['lr']
    named = dict(model.named_parameters())
    lr = lambda name: lr_of[id(named[name])]  # noqa: E731
    first = lr('student.backbone.blocks.0.attn.qkv.weight')
    last = lr('student.backbone.blocks.11.attn.qkv.weight')
    head = lr('student.rpn_head.rpn_cls.weight')
    assert last / first == pytest.approx(0.7 ** -11)
    assert head / first == pytest.approx(0.7 ** -12) and head == pytest.approx(1e-4)
    assert all(id(p) not in lr_of for p in model.teacher.parameters())

    model.train()
    size = 1024
    x = torch.randn(1, 3, size, size)
    losses = model.loss(x, [_det_sample(size)])
    assert losses['distill.loss_frs_feat'].isfinite() and losses['loss_mask'].isfinite()


@pytest.mark.parametrize('name,embed,params', [('g2sd_vits_cls.py', 384, 22.44e6),
                                               ('g2sd_vitt_cls.py', 192, 5.91e6)])
def test_full_size_cls_configs(name, embed, params):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'cls', name))
    assert cfg.model.type == 'ClassificationDistiller' and cfg.model.distill_weight == 0.5
    opt = cfg.optim_wrapper
    assert opt.type == 'AnyDeviceAmpOptimWrapper'
    assert opt.optimizer.lr == pytest.approx(1e-3 * 1024 / 256)
    assert opt.optimizer.weight_decay == 0.05 and opt.paramwise_cfg.layer_decay_rate == 0.75
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 1024
    assert cfg.train_cfg.max_epochs == 200 and cfg.param_scheduler[0].end == 5
    steps = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert steps['RandAugment'].magnitude_level == 9
    assert steps['RandAugment'].magnitude_std == 0.5
    assert steps['RandomErasing'].erase_prob == 0.25
    test_steps = {t.type: t for t in cfg.test_dataloader.dataset.pipeline}
    assert test_steps['ResizeEdge'].scale == 256 and test_steps['CenterCrop'].crop_size == 224
    assert cfg.train_dataloader.dataset.data_root == 'data/imagenet'

    init_default_scope('mmpretrain')
    cfg.model.teacher_ckpt = None
    cfg.model.teacher_autocast = None  # bf16 is slow on CPUs without bf16 units
    cfg.model.student.backbone = dict(init_cfg=None)
    model = MODELS.build(cfg.model)
    student, teacher = model.student, model.teacher
    assert [a.alpha for a in student.data_preprocessor.batch_augments.augments] == [0.8, 1.0]
    assert student.head.loss_module.label_smooth_val == 0.1
    assert student.backbone.embed_dims == embed and student.backbone.dist_token.shape[-1] == embed
    assert _count(student) == pytest.approx(params, rel=2e-3)  # DeiT-S/T distilled: 22.4M/5.9M
    assert _count(teacher) == pytest.approx(86.57e6, rel=2e-3)  # MAE ViT-B/16 classifier
    assert teacher.backbone.out_type == 'avg_featmap' and not teacher.training
    model.train()
    x = torch.randn(2, 3, 224, 224)
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i).set_gt_score(torch.eye(1000)[i]) for i in (1, 2)]
    losses = model.loss(x, samples)
    assert set(losses) == {'loss_cls', 'distill.loss_hard'}
    assert all(v.isfinite() for v in losses.values())
