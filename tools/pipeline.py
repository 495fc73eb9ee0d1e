"""Run a pipeline config: a sequence of train / test / command stages.

    python tools/pipeline.py pipelines/shapes_demo.py [--dry-run] [--force]
        [--force-stage NAME ...] [--only NAME ...] [--from NAME]
        [--seed S] [--work-dir DIR] [--cfg-options data_root=...]
        [--gpus N] [--launcher slurm --partition P] [--jobs N]

Each command is printed before it runs; its output goes to the console and to
WORK_DIR/logs/STAGE.log. Complete stages are skipped (the reason is printed),
an interrupted training resumes from its last checkpoint, and the first failing
stage stops the pipeline (exit code 1) with its log path and last lines. The
time of each stage is written to WORK_DIR/logs/timing.json. The format of
pipeline configs: ``g2sd_mm/pipeline/spec.py`` and ``pipelines/``.
"""
import argparse
import signal
import sys

from mmengine.config import DictAction

try:
    from g2sd_mm.pipeline import Launcher, PipelineError, RunOptions, load_pipeline, run_pipeline
except ImportError:  # run from a source checkout without installing
    import os.path as osp
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from g2sd_mm.pipeline import Launcher, PipelineError, RunOptions, load_pipeline, run_pipeline


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Run a G2SD pipeline config')
    p.add_argument('pipeline', help='pipeline config (pipelines/*.py)')
    p.add_argument('--dry-run', action='store_true',
                   help='print the state of each stage and the commands, run nothing')
    p.add_argument('--force', action='store_true', help='rerun every stage')
    p.add_argument('--force-stage', nargs='+', default=[], metavar='NAME',
                   help='rerun these stages')
    p.add_argument('--only', nargs='+', default=[], metavar='NAME', help='run only these stages')
    p.add_argument('--from', dest='from_stage', metavar='NAME',
                   help='run this stage and the ones after it')
    p.add_argument('--seed', type=int, help='the `seed` variable (randomness.seed of trainings)')
    p.add_argument('--work-dir', help='the `work_dir` variable')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override top-level pipeline variables, NAME=VALUE')
    p.add_argument('--gpus', type=int, help='processes (GPUs) per train/test stage; > 1 runs '
                   'tools/dist_train.sh / dist_test.sh, with slurm the GPUS of the job')
    p.add_argument('--jobs', '-j', type=int, default=1,
                   help='run up to N independent stages at the same time (each with '
                   'OMP_NUM_THREADS = cores / N unless set; their output then goes to the '
                   'logs only). Default: 1')
    p.add_argument('--launcher', choices=['none', 'slurm'], default='none')
    p.add_argument('--partition', help='slurm partition (with --launcher slurm)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        launcher = Launcher(kind=args.launcher, gpus=args.gpus, partition=args.partition)
        pipe = load_pipeline(args.pipeline, work_dir=args.work_dir, seed=args.seed,
                             options=args.cfg_options)
        opts = RunOptions(force=args.force, force_stages=args.force_stage, only=args.only,
                          from_stage=args.from_stage, dry_run=args.dry_run, launcher=launcher,
                          jobs=args.jobs)
        return run_pipeline(pipe, opts)
    except (PipelineError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('error: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    # SIGTERM (timeout, a scheduler) also stops the running stage's process
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
