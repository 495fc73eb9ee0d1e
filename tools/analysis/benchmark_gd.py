"""Benchmark one G2SD generic-distillation training step.

    python tools/analysis/benchmark_gd.py [--config CFG] [--teacher base]
        [--student small] [--batch 8] [--img-size 224] [--device cpu]
        [--dtype fp32|bf16|fp16] [--warmup 3] [--iters 10]

A step is the full training step: shared mask, teacher forward (no autograd),
student forward, loss, backward and an AdamW update. ``teacher_ms`` times the
teacher forward alone under the same settings. Prints one JSON object.
Random weights are used (the speed does not depend on them).
"""
import argparse
import json
import platform
import resource
import statistics
import time
from contextlib import nullcontext

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import g2sd_mm  # noqa: F401

DEFAULT_CONFIG = 'configs/pretrain/g2sd_vit-small-p16_gd_8xb512-amp-300e_in1k.py'
DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def parse_args():
    p = argparse.ArgumentParser(description='benchmark a G2SD stage-1 step')
    p.add_argument('--config', default=DEFAULT_CONFIG)
    p.add_argument('--teacher', help='teacher encoder arch (tiny/small/base/large)')
    p.add_argument('--student', help='student encoder arch (tiny/small/base/large)')
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--dtype', choices=list(DTYPES), default='fp32',
                   help='autocast dtype for teacher and student (loss stays fp32)')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--threads', type=int, help='torch CPU threads')
    return p.parse_args()


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def peak_mem_mb(device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def build_model(args):
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    from mmpretrain.registry import MODELS
    model_cfg = cfg.model
    model_cfg.teacher_ckpt = None
    model_cfg.student_ckpt = None
    for role in ('teacher', 'student'):
        arch = getattr(args, role)
        if arch:
            model_cfg[role]['arch'] = arch
        model_cfg[role]['img_size'] = args.img_size
    return MODELS.build(model_cfg), cfg


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model, cfg = build_model(args)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    dtype = DTYPES[args.dtype]
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def autocast():
        if dtype is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=dtype)

    gen = torch.Generator().manual_seed(0)
    imgs = torch.randn(args.batch, 3, args.img_size, args.img_size, generator=gen).to(device)

    def step():
        with autocast():
            loss = model.loss(imgs)['loss_gd']
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        return loss

    def teacher_only():
        mask = model.make_mask(imgs)
        with autocast():
            return model.teacher_target(imgs, mask)

    for _ in range(args.warmup):
        step()
    sync(device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    step_times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        loss = step()
        sync(device)
        step_times.append(time.perf_counter() - t0)
    teacher_times = []
    for _ in range(max(1, args.iters // 2)):
        t0 = time.perf_counter()
        teacher_only()
        sync(device)
        teacher_times.append(time.perf_counter() - t0)
    step_ms = statistics.median(step_times) * 1e3
    teacher_ms = statistics.median(teacher_times) * 1e3
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    result = dict(
        img_per_s=round(args.batch / (step_ms / 1e3), 2),
        step_ms=round(step_ms, 1),
        teacher_ms=round(teacher_ms, 1),
        teacher_share=round(teacher_ms / step_ms, 3),
        peak_mem_mb=round(peak_mem_mb(device), 1),
        loss=round(float(loss), 5),
        device=(torch.cuda.get_device_name(device) if device.type == 'cuda' else
                f'cpu ({platform.processor() or platform.machine()}, '
                f'{torch.get_num_threads()} threads)'),
        dtype=args.dtype,
        batch=args.batch,
        img_size=args.img_size,
        teacher=cfg.model.teacher.get('arch'),
        student=cfg.model.student.get('arch'),
        teacher_params_m=round(count(model.teacher) / 1e6, 2),
        student_params_m=round(count(model.student) / 1e6, 2),
        fused_attn=bool(model.student.fused_attn),
        warmup=args.warmup,
        iters=args.iters,
        torch=torch.__version__,
        config=args.config,
    )
    print(json.dumps(result))


if __name__ == '__main__':
    main()
