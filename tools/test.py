"""Evaluate a checkpoint with an mmengine config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out-metrics FILE]

The metrics are also written as JSON (default: WORK_DIR/metrics.json) for
tools/analysis scripts.
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import g2sd_mm  # noqa: F401
from g2sd_mm.engine.launch import prepare_launch_cfg


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out-metrics', help='JSON file for the metrics')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    prepare_launch_cfg(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    out = args.out_metrics or osp.join(cfg.work_dir, 'metrics.json')
    if runner.rank == 0:
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            json.dump({k: float(v) if isinstance(v, (int, float)) else v
                       for k, v in metrics.items()}, f, indent=2)
        print(f'metrics written to {out}')


if __name__ == '__main__':
    main()
