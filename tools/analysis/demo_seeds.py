"""Run a pipeline once per seed and summarise the spread of its results.

    python tools/analysis/demo_seeds.py pipelines/shapes_demo.py --seeds 0 1 2 \
        [--work-dir work_dirs/demo_seeds] [--shared data] [pipeline options]

Seed S runs into WORK_DIR/seedS with ``seed=S`` (``randomness.seed`` of every
training). The stages named by ``--shared`` (default: ``data``) run once, in
the first seed's work dir; later seeds use that run's outputs (their templates
resolve to the first seed's paths). The test stages listed by the pipeline's
``results`` are read with ``tools/analysis/g2sd_table.py``'s reader, and
WORK_DIR/seeds.md gets, per task and metric, teacher / student only / G2SD as
``mean ± std (min..max)`` over the seeds, whether teacher > student only and
G2SD > student only held in every seed, and the wall time.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time
from typing import Dict, List, Sequence

from mmengine.config import DictAction

HERE = osp.dirname(osp.abspath(__file__))
ROLES = ('teacher', 'student only', 'G2SD')


def _table_tool():
    """``tools/analysis/g2sd_table.py`` (metric keys and the checked metric reader)."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import g2sd_table
    return g2sd_table


def collect(pipes) -> Dict[str, Dict[str, List[List[float]]]]:
    """``{task name: {metric label: [[teacher, student, g2sd] per seed]}}`` from the
    ``results`` test stages of each seed's pipeline."""
    table = _table_tool()
    out: Dict[str, Dict[str, List[List[float]]]] = {}
    for pipe in pipes:
        if not pipe.results:
            raise ValueError(f'{pipe.path} declares no `results` (test stages of the table)')
        for task, tests in pipe.results.items():
            files = [pipe.abspath(pipe.stages[t].fields['metrics']) for t in tests]
            data = [table.read_metrics(f) for f in files]
            for key, label, scale in table.TASK_METRICS[task]:
                values = [table.metric(d, key, f) * scale for d, f in zip(data, files)]
                out.setdefault(table.TASK_NAMES[task], {}).setdefault(label, []).append(values)
    return out


def _spread(values: Sequence[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return (f'{statistics.mean(values):.1f} ± {std:.1f} '
            f'({min(values):.1f}..{max(values):.1f})')


def summary(collected, seeds: Sequence[int], pipeline: str, seconds: float) -> str:
    lines = [f'# {pipeline}: {len(seeds)} seeds ({", ".join(map(str, seeds))})', '',
             '| task | metric | ' + ' | '.join(ROLES) + ' |', '|---|---|---|---|---|']
    checks = []
    for task, metrics in collected.items():
        for label, per_seed in metrics.items():
            columns = list(zip(*per_seed))  # teacher, student, g2sd; each over seeds
            lines.append(f'| {task} | {label} | ' + ' | '.join(_spread(c) for c in columns)
                         + ' |')
            t_wins = sum(t > s for t, s, _ in per_seed)
            g_wins = sum(g > s for _, s, g in per_seed)
            n = len(per_seed)
            checks.append(f'- {task}, {label}: teacher > student only in {t_wins}/{n} seeds, '
                          f'G2SD > student only in {g_wins}/{n} seeds: '
                          + ('held in every seed' if t_wins == g_wins == n else
                             'did NOT hold in every seed'))
    lines += ['', *checks, '', f'Wall time: {seconds:.0f} s.', '']
    return '\n'.join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='run a pipeline over several seeds')
    p.add_argument('pipeline')
    p.add_argument('--seeds', type=int, nargs='+', required=True)
    p.add_argument('--work-dir', default='work_dirs/demo_seeds')
    p.add_argument('--shared', nargs='*', default=['data'], metavar='STAGE',
                   help='stages run once, in the first seed\'s work dir (default: data)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override top-level pipeline variables, NAME=VALUE')
    p.add_argument('--jobs', '-j', type=int, default=1,
                   help='independent stages run at the same time (tools/pipeline.py --jobs)')
    p.add_argument('--gpus', type=int)
    p.add_argument('--launcher', choices=['none', 'slurm'], default='none')
    p.add_argument('--partition')
    return p.parse_args(argv)


def main(argv=None) -> int:
    from g2sd_mm.pipeline import (Launcher, PipelineError, RunOptions, load_pipeline,
                                  run_pipeline)
    args = parse_args(argv)
    result_error = _table_tool().ResultFileError
    t0 = time.time()
    pipes = []
    try:
        launcher = Launcher(kind=args.launcher, gpus=args.gpus, partition=args.partition)
        for i, seed in enumerate(args.seeds):
            shared = None
            if i > 0:
                shared = {n: pipes[0].stages[n] for n in args.shared if n in pipes[0].stages}
            pipe = load_pipeline(args.pipeline, work_dir=osp.join(args.work_dir, f'seed{seed}'),
                                 seed=seed, options=args.cfg_options, shared=shared)
            missing = [n for n in args.shared if n not in pipe.stages]
            if missing:
                raise PipelineError(f'--shared {missing[0]}: no such stage in {args.pipeline}')
            print(f'[seeds] seed {seed}: {pipe.work_dir}', flush=True)
            code = run_pipeline(pipe, RunOptions(launcher=launcher, jobs=args.jobs))
            if code != 0:
                return code
            pipes.append(pipe)
        text = summary(collect(pipes), args.seeds, args.pipeline, time.time() - t0)
    except (PipelineError, ValueError, result_error) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    out = osp.join(pipes[0].root, args.work_dir, 'seeds.md')
    os.makedirs(osp.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        f.write(text)
    print(text, end='')
    print(f'[seeds] wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
