"""Draw the same test images under the ground truth and three models, side by side.

    python tools/analysis/demo_predictions.py \
        [--cls T_CFG T_CKPT S_CFG S_CKPT G_CFG G_CKPT] \
        [--det T_CFG T_CKPT S_CFG S_CKPT G_CFG G_CKPT] \
        [--seg T_CFG T_CKPT S_CFG S_CKPT G_CFG G_CKPT] \
        [--names teacher "student only" "G2SD student"] [--data-root data/shapes] \
        [--num-images 3] [--score-thr 0.5] [--device cpu] --out PREDICTIONS.png

At least one task. Each model is a config and a checkpoint that must fit it
exactly. The images are the first ``--num-images`` of the test dataset of the
task's first config, read from ``DATA_ROOT/cls``, ``DATA_ROOT/coco`` or
``DATA_ROOT/seg`` (the layout of ``tools/misc/make_shapes_data.py``). One PNG:
a row per (task, image), a column for the ground truth and one per model,
drawn with mmpretrain's ``UniversalVisualizer``, mmdet's
``DetLocalVisualizer`` and mmseg's ``SegLocalVisualizer``.
"""
import argparse
import sys

import matplotlib

matplotlib.use('Agg')

from g2sd_mm.checkpoint import CheckpointError  # noqa: E402
from g2sd_mm.visualization import ModelSpec, build_prediction_grid, save_grid  # noqa: E402
from g2sd_mm.visualization.prediction_grid import DEFAULT_NAMES  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for task, what in (('cls', 'classification'), ('det', 'detection'),
                       ('seg', 'segmentation')):
        parser.add_argument(f'--{task}', nargs='+', metavar='CFG_OR_CKPT',
                            help=f'{what}: CONFIG CHECKPOINT for each model, in --names order')
    parser.add_argument('--names', nargs='+', default=list(DEFAULT_NAMES),
                        help='model column titles (default: %(default)s)')
    parser.add_argument('--data-root', default='data/shapes',
                        help='shapes data root with cls/, coco/, seg/ (default: %(default)s)')
    parser.add_argument('--num-images', type=int, default=3, help='images per task')
    parser.add_argument('--score-thr', type=float, default=0.5,
                        help='detections scoring at most this are not drawn')
    parser.add_argument('--panel-size', type=int, default=384,
                        help='approximate panel side in pixels (images are enlarged to it)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', required=True, help='PNG file')
    args = parser.parse_args(argv)
    if not any((args.cls, args.det, args.seg)):
        parser.error('give at least one of --cls, --det, --seg')
    if args.num_images < 1:
        parser.error(f'--num-images must be at least 1, got {args.num_images}')
    for task in ('cls', 'det', 'seg'):
        paths = getattr(args, task)
        if paths is not None and len(paths) != 2 * len(args.names):
            parser.error(f'--{task} takes a config and a checkpoint for each of the '
                         f'{len(args.names)} models {args.names}: {2 * len(args.names)} paths, '
                         f'got {len(paths)}')
    return args


def main(argv=None):
    args = parse_args(argv)
    models = {}
    for task in ('cls', 'det', 'seg'):
        paths = getattr(args, task)
        if paths is not None:
            models[task] = [ModelSpec(paths[i], paths[i + 1]) for i in range(0, len(paths), 2)]
    try:
        layout = build_prediction_grid(
            models, names=args.names, data_root=args.data_root, num_images=args.num_images,
            score_thr=args.score_thr, device=args.device, panel_size=args.panel_size)
        save_grid(layout, args.out)
    except (FileNotFoundError, CheckpointError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    width, height = layout.size_px
    print(f'{args.out}: {len(layout.rows)} rows x {len(layout.columns)} columns '
          f'({", ".join(layout.columns)}), {width}x{height} px')
    return 0


if __name__ == '__main__':
    sys.exit(main())
