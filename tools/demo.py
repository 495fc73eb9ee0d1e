"""The G2SD demo on the embedded shapes data, CPU-sized (``make demo``).

Steps (each is a standard tool call, printed before it runs):
  1. generate the procedural shapes data into data/shapes/;
  2. stage 0: pretrain a tiny MAE teacher with mmpretrain's own MAE;
  3. stage 1: generic distillation of a tiny ViT student from that teacher;
  4. export the student for downstream training (mmpretrain and timm layouts);
  5. plot the loss curves to work_dirs/demo/loss_curves.png.

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
    sh(['tools/analysis/plot_loss.py', f'{w}/mae_teacher', f'{w}/gd', '--labels',
        'stage 0: MAE teacher (pixel loss)', 'stage 1: G2SD generic distillation',
        '--out', f'{w}/loss_curves.png'])
    print(f'[demo] finished in {time.time() - t0:.0f}s. Outputs under {w}/: '
          'mae_teacher/ (teacher), gd/ (distilled student, logs), gd/export/ '
          '(backbone initialisations), loss_curves.png', flush=True)


if __name__ == '__main__':
    main()
