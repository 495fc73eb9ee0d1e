"""The G2SD demo on the embedded shapes data, CPU-sized (``make demo``).

Steps (each is a standard tool call, printed before it runs):
  1. generate the procedural shapes data into data/shapes/;
  2. stage 0: pretrain a tiny MAE teacher with mmpretrain's own MAE;
  3. stage 1: generic distillation of a tiny ViT student from that teacher;
  4. export the student for downstream training (mmpretrain and timm layouts);
  5. classification: fine-tune the MAE teacher as a classifier, train the
     student without distillation and with a distillation token (hard
     distillation from the teacher), test all three with tools/test.py;
  6. detection: the same three-way comparison with a ViTDet Mask R-CNN and FRS;
  7. segmentation: the same with UperNet and CWD;
  8. the retention table (work_dirs/demo/retention.md), the loss curves
     (work_dirs/demo/loss_curves.png) and the predictions of the three models
     of each task on the same validation images (work_dirs/demo/predictions.png).

A step whose final checkpoint already exists is skipped (``--force`` reruns all).
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

MAE_CFG = 'configs/pretrain/mae_vit-tiny-p8_1xb32-60e_shapes.py'
GD_CFG = 'configs/pretrain/g2sd_vit-tiny-p8_gd_1xb32-30e_shapes.py'
DET_TEACHER_CFG = 'configs/det/vitdet_mask-rcnn_vit-64d-mae_simple-fpn_1xb2-800it_shapes.py'
DET_STUDENT_CFG = 'configs/det/vitdet_mask-rcnn_vit-32d-g2sd_simple-fpn_1xb2-800it_shapes.py'
DET_G2SD_CFG = 'configs/det/g2sd_vit-32d_mask-rcnn_1xb2-800it_shapes.py'
CLS_TEACHER_CFG = 'configs/cls/vit-64d-p8-mae-ft_1xb32-30e_shapes.py'
CLS_BASELINE_CFG = 'configs/cls/vit-32d-p8-g2sd-gd_1xb32-30e_shapes.py'
CLS_STUDENT_CFG = 'configs/cls/vit-32d-p8-distilled_g2sd-gd_1xb32-30e_shapes.py'
CLS_G2SD_CFG = 'configs/cls/g2sd_vit-32d_cls_1xb32-30e_shapes.py'
SEG_TEACHER_CFG = 'configs/seg/upernet_vit-64d-mae_feature2pyramid_1xb4-800it_shapes.py'
SEG_STUDENT_CFG = 'configs/seg/upernet_vit-32d-g2sd_feature2pyramid_1xb4-800it_shapes.py'
SEG_G2SD_CFG = 'configs/seg/g2sd_vit-32d_upernet_1xb4-800it_shapes.py'

# task -> CONFIG CHECKPOINT of the teacher, the student-only baseline and the
# extracted G2SD student, as tested by three_way (for the predictions picture)
TESTED_MODELS = {}


def three_way(w, task, cfgs, data, teacher_init, student_init, force, last='iter_800.pth'):
    """Train teacher, student-only and G2SD student of one task, then test all three.

    ``cfgs`` = (teacher, student-only baseline, G2SD distillation[, student
    model to test the extracted G2SD student with; default: the baseline]).
    """
    teacher_cfg, student_cfg, g2sd_cfg = cfgs[:3]
    g2sd_student_cfg = cfgs[3] if len(cfgs) > 3 else student_cfg
    sh(['tools/train.py', teacher_cfg, '--work-dir', f'{w}/{task}_teacher', '--cfg-options',
        *data, f'model.backbone.init_cfg.checkpoint={teacher_init}'],
       skip_if=f'{w}/{task}_teacher/{last}', force=force)
    sh(['tools/train.py', student_cfg, '--work-dir', f'{w}/{task}_student', '--cfg-options',
        *data, f'model.backbone.init_cfg.checkpoint={student_init}'],
       skip_if=f'{w}/{task}_student/{last}', force=force)
    sh(['tools/train.py', g2sd_cfg, '--work-dir', f'{w}/{task}_g2sd', '--cfg-options', *data,
        f'model.teacher_ckpt={w}/{task}_teacher/{last}',
        f'model.student.backbone.init_cfg.checkpoint={student_init}'],
       skip_if=f'{w}/{task}_g2sd/{last}', force=force)
    sh(['tools/model_converters/extract_student.py', f'{w}/{task}_g2sd/{last}',
        f'{w}/{task}_g2sd/student_only.pth'])
    TESTED_MODELS[task] = []
    for name, cfg, ckpt in [(f'{task}_teacher', teacher_cfg, last),
                            (f'{task}_student', student_cfg, last),
                            (f'{task}_g2sd', g2sd_student_cfg, 'student_only.pth')]:
        TESTED_MODELS[task] += [cfg, f'{w}/{name}/{ckpt}']
        sh(['tools/test.py', cfg, f'{w}/{name}/{ckpt}', '--work-dir', f'{w}/{name}/test',
            '--out-metrics', f'{w}/{name}/metrics.json', '--cfg-options', *data,
            'model.backbone.init_cfg=None'])
    return [f'{w}/{task}_{n}/metrics.json' for n in ('teacher', 'student', 'g2sd')]


def sh(args, skip_if=None, force=False):
    if skip_if and osp.exists(osp.join(ROOT, skip_if)) and not force:
        print(f'[demo] skip (exists: {skip_if}): {" ".join(args)}', flush=True)
        return
    print(f'[demo] $ python {" ".join(args)}', flush=True)
    t0 = time.time()
    subprocess.run([sys.executable] + args, cwd=ROOT, check=True)
    print(f'[demo]   done in {time.time() - t0:.0f}s', flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default='data/shapes')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--force', action='store_true', help='rerun every step')
    args = parser.parse_args()
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    w = args.work_dir
    t0 = time.time()
    sh(['tools/misc/make_shapes_data.py', '--out', args.data])
    data = [f'train_dataloader.dataset.data_root={args.data}/cls']
    sh(['tools/train.py', MAE_CFG, '--work-dir', f'{w}/mae_teacher', '--cfg-options', *data],
       skip_if=f'{w}/mae_teacher/epoch_60.pth', force=args.force)
    sh(['tools/train.py', GD_CFG, '--work-dir', f'{w}/gd', '--cfg-options', *data,
        f'model.teacher_ckpt={w}/mae_teacher/epoch_60.pth'],
       skip_if=f'{w}/gd/epoch_30.pth', force=args.force)
    sh(['tools/model_converters/g2sd_gd_export.py', f'{w}/gd/epoch_30.pth',
        f'{w}/gd/export/vit-tiny-p8_shapes'])

    student_init = f'{w}/gd/export/vit-tiny-p8_shapes_backbone.pth'
    mae_init = f'{w}/mae_teacher/epoch_60.pth'

    # classification: teacher, student-only baseline, G2SD (distillation-token) student
    cls_data = [f'{k}.dataset.data_root={args.data}/cls/' for k in
                ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    cls_metrics = three_way(
        w, 'cls', (CLS_TEACHER_CFG, CLS_BASELINE_CFG, CLS_G2SD_CFG, CLS_STUDENT_CFG), cls_data,
        mae_init, student_init, args.force, last='epoch_30.pth')

    # detection: teacher, student-only baseline, G2SD student
    coco = f'{args.data}/coco/'
    det_data = [f'{k}.dataset.data_root={coco}' for k in
                ('train_dataloader', 'val_dataloader', 'test_dataloader')] + [
        f'{k}.ann_file={coco}annotations/instances_val.json'
        for k in ('val_evaluator', 'test_evaluator')]
    det_metrics = three_way(w, 'det', (DET_TEACHER_CFG, DET_STUDENT_CFG, DET_G2SD_CFG),
                            det_data, mae_init, student_init, args.force)

    # segmentation: teacher, student-only baseline, G2SD (CWD) student
    seg_data = [f'{k}.dataset.data_root={args.data}/seg/' for k in
                ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    seg_metrics = three_way(w, 'seg', (SEG_TEACHER_CFG, SEG_STUDENT_CFG, SEG_G2SD_CFG),
                            seg_data, mae_init, student_init, args.force)
    sh(['tools/analysis/g2sd_table.py', '--cls', *cls_metrics, '--det', *det_metrics,
        '--seg', *seg_metrics, '--out', f'{w}/retention.md'])

    runs = [f'{task}_{kind}' for task in ('cls', 'det', 'seg')
            for kind in ('teacher', 'student', 'g2sd')]
    sh(['tools/analysis/plot_loss.py', f'{w}/mae_teacher', f'{w}/gd',
        *[f'{w}/{r}' for r in runs], '--labels', 'stage 0: MAE teacher (pixels)',
        'stage 1: generic distillation', *[r.replace('_', ' ') for r in runs],
        '--out', f'{w}/loss_curves.png'])
    sh(['tools/analysis/demo_predictions.py',
        *[arg for task in ('cls', 'det', 'seg') for arg in (f'--{task}', *TESTED_MODELS[task])],
        '--data-root', args.data, '--out', f'{w}/predictions.png'])
    print(f'[demo] finished in {time.time() - t0:.0f}s. Outputs under {w}/: '
          'mae_teacher/, gd/ (stage 1; gd/export/ = backbone initialisations), '
          '{cls,det,seg}_{teacher,student,g2sd}/ (checkpoints, logs, metrics.json), '
          'retention.md, loss_curves.png, predictions.png', flush=True)


if __name__ == '__main__':
    main()
