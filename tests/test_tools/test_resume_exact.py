"""Exact resume through the real tools: an uninterrupted tools/train.py run vs a run
SIGKILLed right after checkpoint k and continued with ``--resume`` (automatic, from
``last_checkpoint``). Every logged loss term (logger interval 1, smoothing window 1)
and the learning rate of iterations k+1..N must be *equal* (float ``==`` on the values
mmengine writes to scalars.json; no tolerance), on one CPU process with num_workers=0.

Stage 1 (GD, EpochBasedTrainLoop config): resume at an epoch end and in the middle
of an epoch. Stage 2 (detection/segmentation distillation, iteration-based configs):
validation runs right after the checkpoint in the uninterrupted run only.
Classification distillation (epoch-based, the full random recipe: random crop,
flip, RandAugment, random erasing, mixup/cutmix, drop path, bf16 autocast):
resume in the middle of an epoch, with a validation at every epoch end.
"""
import pytest

from train_runs import (CLS_G2SD_CFG, CLS_TEACHER_CFG, DET_G2SD_CFG, DET_TEACHER_CFG, GD_CFG, MAE_CFG, SEG_G2SD_CFG,
                        SEG_TEACHER_CFG, losses, scalars, train, train_killed_after,
                        untrained_teacher)

pytestmark = pytest.mark.slow


def check_exact_resume(tmp_path, args, checkpoint, first, last):
    ref_dir, cut_dir = tmp_path / 'uninterrupted', tmp_path / 'interrupted'
    train(args, ref_dir)
    killed_log = train_killed_after(checkpoint, args, cut_dir)
    assert 'Saving checkpoint' in killed_log
    log = train([args[0], '--resume', *args[1:]], cut_dir)
    assert f'Auto resumed from the latest checkpoint {cut_dir / checkpoint}' in log
    assert 'random generator states restored from the checkpoint' in log
    ref, resumed = scalars(ref_dir), scalars(cut_dir)
    assert max(resumed) == max(ref) == last
    expected, got = losses(ref, first, last), losses(resumed, first, last)
    assert got == expected  # exact
    return log


@pytest.fixture(scope='module')
def gd_args(tmp_path_factory, shapes_root):
    teacher = untrained_teacher(MAE_CFG, 'mmpretrain',
                                tmp_path_factory.mktemp('gd_teacher') / 'mae.pth')
    return [GD_CFG, '--cfg-options', f'train_dataloader.dataset.data_root={shapes_root}/cls',
            'train_dataloader.batch_size=8', f'model.teacher_ckpt={teacher}',
            'train_cfg.max_epochs=3', 'default_hooks.logger.interval=1',
            'log_processor.window_size=1']


def test_gd_resume_at_epoch_end_is_exact(tmp_path, gd_args):
    # 40 images / batch 8: 5 iterations per epoch, 15 in all
    args = gd_args + ['default_hooks.checkpoint.interval=1']
    log = check_exact_resume(tmp_path, args, 'epoch_1.pth', 6, 15)
    assert 'resumed epoch: 1, iter: 5' in log


def test_gd_resume_mid_epoch_is_exact(tmp_path, gd_args):
    args = gd_args + ['default_hooks.checkpoint.by_epoch=False',
                      'default_hooks.checkpoint.interval=7']
    log = check_exact_resume(tmp_path, args, 'iter_7.pth', 8, 15)
    assert 'skipped 2 batches at the sampler level' in log  # 7 = 5 + 2


def stage2_args(cfg, teacher, data_opts):
    return [cfg, '--cfg-options', *data_opts, f'model.teacher_ckpt={teacher}',
            'model.student.backbone.init_cfg=None', 'train_cfg.max_iters=6',
            'train_cfg.val_interval=3', 'default_hooks.checkpoint.interval=3',
            'default_hooks.logger.interval=1', 'log_processor.window_size=1']


def test_detection_distillation_resume_is_exact(tmp_path, shapes_root):
    teacher = untrained_teacher(DET_TEACHER_CFG, 'mmdet', tmp_path / 'det_teacher.pth')
    coco = f'{shapes_root}/coco/'
    data = [f'{k}.dataset.data_root={coco}' for k in
            ('train_dataloader', 'val_dataloader', 'test_dataloader')] + [
        f'{k}.ann_file={coco}annotations/instances_val.json'
        for k in ('val_evaluator', 'test_evaluator')]
    log = check_exact_resume(tmp_path, stage2_args(DET_G2SD_CFG, teacher, data),
                             'iter_3.pth', 4, 6)
    assert 'skipped 3 batches' in log


def test_segmentation_distillation_resume_is_exact(tmp_path, shapes_root):
    teacher = untrained_teacher(SEG_TEACHER_CFG, 'mmseg', tmp_path / 'seg_teacher.pth')
    data = [f'{k}.dataset.data_root={shapes_root}/seg/' for k in
            ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    log = check_exact_resume(tmp_path, stage2_args(SEG_G2SD_CFG, teacher, data),
                             'iter_3.pth', 4, 6)
    assert 'skipped 3 batches' in log


def test_classification_distillation_resume_mid_epoch_is_exact(tmp_path, shapes_root):
    teacher = untrained_teacher(CLS_TEACHER_CFG, 'mmpretrain', tmp_path / 'cls_teacher.pth')
    root = f'{shapes_root}/cls'
    args = [CLS_G2SD_CFG, '--cfg-options', f'model.teacher_ckpt={teacher}',
            'model.student.backbone.init_cfg=None', 'train_dataloader.batch_size=8',
            *[f'{k}.dataset.data_root={root}' for k in
              ('train_dataloader', 'val_dataloader', 'test_dataloader')],
            'train_cfg.max_epochs=2', 'train_cfg.val_interval=1',
            'default_hooks.checkpoint.by_epoch=False', 'default_hooks.checkpoint.interval=7',
            'default_hooks.logger.interval=1', 'log_processor.window_size=1']
    log = check_exact_resume(tmp_path, args, 'iter_7.pth', 8, 10)
    assert 'skipped 2 batches at the sampler level' in log  # 7 = 5 + 2
