"""What each paper schedule of G2SD costs: FLOPs per image and GPU-hours.

    python tools/analysis/cost_model.py [--stages gd cls det seg] [--img-size PX]
        [--peak-tflops 989] [--utilisation 0.4] [--json]

For each stage the full-size distillation config is built (random weights, as
in ``benchmark.py``) and one training step on one random image at the
recipe's input size (two for seg) is counted with ``torch.utils.flop_counter.FlopCounterMode``:
the teacher's inference forward and the whole distillation step (teacher
forward + student forward and backward + adapters and losses; the optimizer
is elementwise and not counted). The student part is the difference. The
table multiplies by the images the paper schedule processes and converts to
GPU-hours at ``--utilisation`` of ``--peak-tflops`` (default: 40% of an
H200's ~989 TFLOP/s dense bf16 peak, an assumption until measured with
``gpu_benchmark.sh``). Detection FLOPs depend slightly on the number of
ground-truth boxes (mask head on positive proposals); four boxes per image
are used.
"""
import argparse
import json
import os.path as osp
import sys

import torch

HERE = osp.dirname(osp.abspath(__file__))
# images processed by the paper schedules (G2SD, CVPR 2023)
SCHEDULES = {
    'gd': ('300 epochs x 1.28 M', 300 * 1_281_167),
    'cls': ('200 epochs x 1.28 M', 200 * 1_281_167),
    'det': ('184,375 it x 64', 184_375 * 64),
    'seg': ('160k it x 16', 160_000 * 16),
}


def _benchmark_tool():
    """``tools/analysis/benchmark.py`` (builds the models and batches of each stage)."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import benchmark
    return benchmark


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='FLOPs and GPU-hours of the G2SD schedules')
    p.add_argument('--stages', nargs='+', default=list(SCHEDULES), choices=list(SCHEDULES))
    p.add_argument('--config', help='distillation config (only with a single stage)')
    p.add_argument('--img-size', type=int, help='input size (default: each recipe\'s)')
    p.add_argument('--peak-tflops', type=float, default=989.0,
                   help='device peak in TFLOP/s (default: H200 dense bf16)')
    p.add_argument('--utilisation', type=float, default=0.4,
                   help='assumed fraction of the peak reached in training')
    p.add_argument('--threads', type=int, help='torch CPU threads')
    p.add_argument('--json', action='store_true', help='one JSON line per stage, no table')
    return p.parse_args(argv)


def stage_cost(tool, stage: str, args) -> dict:
    """GFLOP per image of one stage's training step."""
    # batch 2 for seg: its pooling module has BatchNorm on 1x1 maps (batch 1 cannot train)
    batch = 2 if stage == 'seg' else 1
    bench_args = tool.parse_args(['--stage', stage, '--device', 'cpu', '--batch', str(batch)])
    bench_args.config, bench_args.img_size = args.config, args.img_size
    runs = tool.prepare(bench_args)
    teacher = tool.count_flops(runs.teacher_forward) / batch
    distill = tool.count_flops(runs.distill_step) / batch
    images, total = SCHEDULES[stage]
    pflop = distill * total / 1e15
    gpu_hours = distill * total / (args.peak_tflops * 1e12 * args.utilisation) / 3600
    return dict(stage=stage, img_size=runs.img_size,
                teacher_gflop_per_img=round(teacher / 1e9, 2),
                student_gflop_per_img=round((distill - teacher) / 1e9, 2),
                distill_gflop_per_img=round(distill / 1e9, 2),
                schedule=images, images=total, total_pflop=round(pflop),
                gpu_hours=round(gpu_hours, 1), peak_tflops=args.peak_tflops,
                utilisation=args.utilisation)


def main(argv=None):
    args = parse_args(argv)
    if args.config and len(args.stages) != 1:
        raise SystemExit('--config needs exactly one stage in --stages')
    if args.threads:
        torch.set_num_threads(args.threads)
    tool = _benchmark_tool()
    rows = []
    for stage in args.stages:
        row = stage_cost(tool, stage, args)
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    if args.json:
        return
    print('| stage | input | teacher fwd GFLOP/img | student fwd+bwd GFLOP/img | '
          'step GFLOP/img | schedule | images | PFLOP | GPU-hours |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['stage']} | {r['img_size']} | {r['teacher_gflop_per_img']} | "
              f"{r['student_gflop_per_img']} | {r['distill_gflop_per_img']} | {r['schedule']} | "
              f"{r['images']:,} | {r['total_pflop']:,} | {r['gpu_hours']:,} |")
    print(f'GPU-hours at {args.utilisation:.0%} of {args.peak_tflops:g} TFLOP/s '
          '(assumed utilisation, not measured)')


if __name__ == '__main__':
    main()
