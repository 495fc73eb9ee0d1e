"""How much a low-precision teacher changes the distillation targets and losses.

    python tools/analysis/teacher_precision.py --stage {gd,cls,det,seg} [--config CFG]
        [--batch 2] [--img-size PX] [--dtype bf16|fp16] [--load-teacher] [--seed 0]
        [--cfg-options KEY=VALUE ...]

Runs the teacher of a distillation config twice on the same random batch (made
by the stage's real data preprocessor, as in ``benchmark.py``): in fp32 and
under ``teacher_autocast`` = ``--dtype``. For every target tensor the teacher
produces (stage-1 decoder features; teacher logits for ``cls``; FPN features
and RPN objectness for ``det``; decode-head logits for ``seg``) it prints the
max and mean absolute difference and the largest magnitude of the fp32 target,
then the distillation losses of one seeded forward with each teacher. One
JSON line. Weights are seeded random unless ``--load-teacher`` reads the
config's ``teacher_ckpt``; trained teachers are the case that matters for
training, random ones bound the effect for the tests.
"""
import argparse
import copy
import json
import os.path as osp
import sys
from typing import Dict, List

import torch
from mmengine.config import Config, DictAction

HERE = osp.dirname(osp.abspath(__file__))


def _benchmark_tool():
    """``tools/analysis/benchmark.py`` (builds the models and batches of each stage)."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import benchmark
    return benchmark


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='fp32 vs low-precision teacher targets')
    p.add_argument('--stage', choices=['gd', 'cls', 'det', 'seg'], required=True)
    p.add_argument('--config', help='distillation config (default: the full-size one)')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--img-size', type=int, help='input size (default: the recipe\'s)')
    p.add_argument('--dtype', choices=['bf16', 'fp16'], default='bf16')
    p.add_argument('--load-teacher', action='store_true',
                   help='load the config\'s teacher_ckpt instead of seeded random weights')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, help='torch CPU threads')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return p.parse_args(argv)


def flat_tensors(obj) -> List[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in flat_tensors(item)]
    raise TypeError(f'unexpected teacher output {type(obj).__name__}')


def _names(stage: str, count: int) -> List[str]:
    if stage == 'det':
        levels = count // 2
        return [f'fpn{i}' for i in range(levels)] + [f'objectness{i}' for i in range(levels)]
    return {'gd': ['decoder_features'], 'cls': ['logits'], 'seg': ['logits']}[stage]


def compare(args) -> Dict:
    tool = _benchmark_tool()
    if args.threads:
        torch.set_num_threads(args.threads)
    stage = tool.STAGES[args.stage]
    bench_args = tool.parse_args(['--stage', args.stage, '--device', 'cpu'])
    bench_args.config, bench_args.img_size = args.config, args.img_size
    bench_args.cfg_options = args.cfg_options
    torch.manual_seed(args.seed)
    distiller, _, _ = tool.build_models(args.stage, bench_args, with_student=False)
    if args.load_teacher:
        file_cfg = Config.fromfile(osp.join(tool.ROOT, args.config or stage.config))
        file_cfg.merge_from_dict(args.cfg_options)
        ckpt = file_cfg.model.get('teacher_ckpt')
        if not ckpt:
            raise ValueError(f'{args.config or stage.config} names no teacher_ckpt')
        distiller.load_teacher_checkpoint(distiller.teacher, ckpt)
    size = args.img_size or stage.img_size
    data = stage.make_batch(args.batch, size, torch.Generator().manual_seed(args.seed),
                            stage.classes(distiller.student))
    distiller.train()
    with torch.no_grad():
        prepared = distiller.data_preprocessor(copy.deepcopy(data), True)
    inputs, samples = prepared['inputs'], prepared['data_samples']
    low = {'bf16': 'bfloat16', 'fp16': 'float16'}[args.dtype]

    def run(precision):
        distiller.teacher_autocast = {None: None, 'bfloat16': torch.bfloat16,
                                      'float16': torch.float16}[precision]
        torch.manual_seed(args.seed)
        targets = [t.float() for t in flat_tensors(stage.teacher(distiller, inputs, samples))]
        torch.manual_seed(args.seed)
        with torch.no_grad():
            losses = distiller.loss(inputs, samples)
        distill = {k: float(v) for k, v in losses.items()
                   if k.startswith('distill.') or k == 'loss_gd'}
        return targets, distill

    ref_targets, ref_losses = run(None)
    low_targets, low_losses = run(low)
    targets = {}
    for name, ref, out in zip(_names(args.stage, len(ref_targets)), ref_targets, low_targets):
        diff = (out - ref).abs()
        targets[name] = dict(max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
                             max_abs_target=float(ref.abs().max()),
                             mean_abs_target=float(ref.abs().mean()))
    result = dict(stage=args.stage, dtype=args.dtype, batch=args.batch, img_size=size,
                  weights='teacher_ckpt' if args.load_teacher else f'random (seed {args.seed})',
                  targets=targets,
                  loss_fp32=ref_losses, loss_low=low_losses,
                  loss_rel_diff={k: abs(low_losses[k] - v) / max(abs(v), 1e-12)
                                 for k, v in ref_losses.items()})
    if args.stage == 'cls':
        result['top1_agreement'] = float(
            (ref_targets[0].argmax(1) == low_targets[0].argmax(1)).float().mean())
    return result


def main(argv=None):
    print(json.dumps(compare(parse_args(argv))))


if __name__ == '__main__':
    main()
