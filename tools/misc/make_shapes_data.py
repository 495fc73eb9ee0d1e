"""Write the procedural shapes data set (classification, COCO detection /
instance segmentation, semantic segmentation) used by the demo and smoke
configs.

Example::

    python tools/misc/make_shapes_data.py --out data/shapes
    python tools/misc/make_shapes_data.py --tasks det seg --num-scene-train 50

Re-running with the same settings skips the tasks already written (see
``g2sd_mm.demo.shapes``); ``--overwrite`` regenerates them.
"""
import argparse
import os.path as osp
import sys
import time

try:
    from g2sd_mm.demo.shapes import TASKS, generate_shapes
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..',
                                            '..')))
    from g2sd_mm.demo.shapes import TASKS, generate_shapes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write the deterministic procedural shapes data set.')
    parser.add_argument('--out', default='data/shapes',
                        help='output folder (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='base seed')
    parser.add_argument('--tasks', nargs='+', choices=TASKS,
                        default=list(TASKS), help='which parts to write')
    parser.add_argument('--cls-size', type=int, default=64,
                        help='side of the classification images')
    parser.add_argument('--scene-size', type=int, default=128,
                        help='side of the detection/segmentation scenes')
    parser.add_argument('--num-cls-train', type=int, default=400)
    parser.add_argument('--num-cls-val', type=int, default=100)
    parser.add_argument('--num-scene-train', type=int, default=200)
    parser.add_argument('--num-scene-val', type=int, default=50)
    parser.add_argument('--overwrite', action='store_true',
                        help='regenerate even if the same data exists')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        result = generate_shapes(
            args.out,
            tasks=args.tasks,
            seed=args.seed,
            cls_size=args.cls_size,
            scene_size=args.scene_size,
            num_cls_train=args.num_cls_train,
            num_cls_val=args.num_cls_val,
            num_scene_train=args.num_scene_train,
            num_scene_val=args.num_scene_val,
            overwrite=args.overwrite)
    except (ValueError, FileExistsError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start

    print(f'shapes data in {result["root"]} '
          f'(settings: {result["meta_file"]})')
    for task in args.tasks:
        info = result[task]
        state = 'written' if task in result['generated'] else \
            'unchanged, skipped'
        print(f'  {task}: {info["data_root"]} ({state})')
        for split in ('train', 'val'):
            s = info[split]
            extra = f', {s["num_instances"]} instances' \
                if 'num_instances' in s else ''
            ann = s.get('ann_file') or s.get('ann_dir')
            print(f'    {split}: {s["num_images"]} images{extra}; '
                  f'annotations: {ann}')
    print(f'done in {elapsed:.2f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
