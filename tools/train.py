"""Train a model from an mmengine config (any g2sd_mm or OpenMMLab 2.x config).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--partial-load]
    tools/dist_train.sh CONFIG NUM_GPUS [args...]

A ``load_from`` checkpoint (or the file given to ``--resume``) must fit the
config's model exactly; ``--partial-load`` loads only the matching weights.

On a machine without CUDA, distributed runs use the gloo backend.
"""
import argparse

from mmengine.runner import Runner

import g2sd_mm  # noqa: F401  (registers components, safe checkpoint loading)
from g2sd_mm.engine.launch import (add_common_args, check_checkpoint_fits_runner,
                                   finish_launch, load_tool_config, prepare_launch_cfg)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint; without a path, from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument('--no-validate', action='store_true', help='skip validation')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by actual batch size / auto_scale_lr.base_batch_size')
    add_common_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_tool_config(args)
    if args.amp:
        # mmengine's AmpOptimWrapper, extended to run on the CPU (bf16) too
        cfg.optim_wrapper.type = 'AnyDeviceAmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    prepare_launch_cfg(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    if cfg.get('load_from'):
        # load_from, or the file given to --resume: mmengine would load it non-strictly
        check_checkpoint_fits_runner(runner, cfg.load_from, args.config, args.partial_load)
    runner.train()
    finish_launch()


if __name__ == '__main__':
    main()
