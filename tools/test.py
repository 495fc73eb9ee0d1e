"""Evaluate a checkpoint with an mmengine config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out-metrics FILE]

The checkpoint must fit the config's model exactly (no missing, unexpected or
mis-shaped weights; ``--partial-load`` evaluates with only the matching ones).
Non-finite predictions stop the evaluation with an error naming the batch and
sample (``FiniteOutputsHook``). The metrics are also written as JSON (default:
WORK_DIR/metrics.json) for tools/analysis scripts.
"""
import argparse
import json
import os
import os.path as osp

from mmengine.runner import Runner

import g2sd_mm  # noqa: F401
from g2sd_mm.engine.launch import (add_common_args, check_checkpoint_fits_runner,
                                   finish_launch, load_tool_config, prepare_launch_cfg)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-metrics', help='JSON file for the metrics')
    add_common_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_tool_config(args)
    cfg.load_from = args.checkpoint
    prepare_launch_cfg(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    # mmengine loads ``load_from`` non-strictly (a warning only): refuse a
    # checkpoint that does not fit the config instead of evaluating a
    # half-initialised model.
    check_checkpoint_fits_runner(runner, args.checkpoint, args.config, args.partial_load)
    metrics = runner.test()
    out = args.out_metrics or osp.join(cfg.work_dir, 'metrics.json')
    if runner.rank == 0:
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            json.dump({k: float(v) if isinstance(v, (int, float)) else v
                       for k, v in metrics.items()}, f, indent=2)
        print(f'metrics written to {out}')
    finish_launch()


if __name__ == '__main__':
    main()
