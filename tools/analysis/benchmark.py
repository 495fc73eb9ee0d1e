"""Benchmark one training step of any G2SD stage and print one JSON line.

    python tools/analysis/benchmark.py --stage {gd,cls,det,seg} [--config CFG]
        [--batch N] [--img-size PX] [--device cpu|cuda] [--dtype fp32|bf16|fp16]
        [--warmup 2] [--iters 5] [--threads N] [--no-flops]
        [--cfg-options KEY=VALUE ...]

Three things are timed on the same random batch, made by the stage's real data
preprocessor (images + labels for ``cls``, a few random boxes and masks per
image in ``DetDataSample`` for ``det``, random label maps for ``seg``):

* ``distill_ms``: a full distillation training step (``model.train_step``:
  preprocessing, teacher forward, student forward + backward, losses, AdamW);
* ``student_ms``: the same step of the student alone (the student-only config
  the distiller's ``student`` names; for ``gd``, which has no student-only
  model, the distiller with the teacher target cached);
* ``teacher_ms``: the distiller's teacher forward alone (inference mode,
  ``teacher_autocast`` as configured), on the preprocessed batch.

``overhead`` = distill / (student + teacher): 1.0 means distillation costs
nothing beyond running the two models. Medians over ``--iters`` after
``--warmup`` steps. With FLOP counting (default; ``torch.utils.flop_counter``,
one extra step) the line also has the GFLOP per image of each part, the
achieved TFLOP/s of the distillation step and its fraction of the device's
matmul peak, measured in the same run with a square matmul in the benchmark
dtype. Teacher weights are random (``teacher_ckpt`` is ignored; speed does not
depend on them), and so is the student's initialisation.
"""
import argparse
import copy
import json
import os.path as osp
import platform
import resource
import statistics
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from torch.utils.flop_counter import FlopCounterMode

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import g2sd_mm  # noqa: E402,F401
from g2sd_mm.engine.amp_optim_wrapper import AnyDeviceAmpOptimWrapper  # noqa: E402

DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


@dataclass
class Stage:
    """What the benchmark needs to know about one G2SD stage."""
    config: str           # full-size distillation config
    scope: str            # default_scope / registry of its models
    img_size: int         # the recipe's training resolution
    make_batch: Callable  # (batch, img_size, generator, classes) -> dict(inputs, data_samples)
    teacher: Callable     # (distiller, inputs, data_samples) -> teacher outputs
    classes: Callable     # student -> number of classes of its labels


def _images(batch: int, size: int, gen: torch.Generator) -> List[torch.Tensor]:
    return [torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.uint8)
            for _ in range(batch)]


def _gd_batch(batch: int, size: int, gen: torch.Generator, classes: int) -> dict:
    from mmpretrain.structures import DataSample
    samples = [DataSample(metainfo=dict(sample_idx=i)) for i in range(batch)]
    # the MAE dataset config collates with ``default_collate`` (a stacked batch)
    return dict(inputs=torch.stack(_images(batch, size, gen)), data_samples=samples)


def _cls_batch(batch: int, size: int, gen: torch.Generator, classes: int) -> dict:
    from mmpretrain.structures import DataSample
    labels = torch.randint(0, classes, (batch,), generator=gen)
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    return dict(inputs=_images(batch, size, gen), data_samples=samples)


def _det_batch(batch: int, size: int, gen: torch.Generator, classes: int,
               boxes: int = 4) -> dict:
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    samples = []
    for _ in range(batch):
        xy = torch.rand(boxes, 2, generator=gen) * size * 0.6
        wh = (torch.rand(boxes, 2, generator=gen) * 0.3 + 0.1) * size
        bboxes = torch.cat([xy, (xy + wh).clamp(max=size - 1)], dim=1)
        masks = torch.zeros(boxes, size, size, dtype=torch.uint8)
        for k, (x1, y1, x2, y2) in enumerate(bboxes.round().long().tolist()):
            masks[k, y1:y2, x1:x2] = 1
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                             scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=bboxes, labels=torch.randint(0, classes, (boxes,), generator=gen),
            masks=BitmapMasks(masks.numpy(), size, size))
        samples.append(sample)
    return dict(inputs=_images(batch, size, gen), data_samples=samples)


def _seg_batch(batch: int, size: int, gen: torch.Generator, classes: int) -> dict:
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(batch):
        sample = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, classes, (1, size, size), generator=gen))
        samples.append(sample)
    return dict(inputs=_images(batch, size, gen), data_samples=samples)


def _gd_teacher(model, inputs, data_samples):
    imgs = model._images(inputs)
    return model.teacher_target(imgs, model.make_mask(imgs))


STAGES: Dict[str, Stage] = {
    'gd': Stage('configs/pretrain/g2sd_vit-small-p16_gd_8xb512-amp-300e_in1k.py',
                'mmpretrain', 224, _gd_batch, _gd_teacher, lambda student: 0),
    'cls': Stage('configs/cls/g2sd_vits_cls.py', 'mmpretrain', 224, _cls_batch,
                 lambda model, inputs, samples: model.teacher_logits(inputs),
                 lambda student: student.head.num_classes),
    'det': Stage('configs/det/g2sd_vits_maskrcnn.py', 'mmdet', 1024, _det_batch,
                 lambda model, inputs, samples: model.teacher_outputs(inputs),
                 lambda student: student.roi_head.bbox_head.num_classes),
    'seg': Stage('configs/seg/g2sd_vits_upernet.py', 'mmseg', 512, _seg_batch,
                 lambda model, inputs, samples: model.teacher_logits(inputs),
                 lambda student: student.decode_head.num_classes),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='benchmark a G2SD training step')
    p.add_argument('--stage', choices=list(STAGES), required=True)
    p.add_argument('--config', help='distillation config (default: the full-size one)')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--img-size', type=int, help='input size (default: the recipe\'s)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--dtype', choices=list(DTYPES), default='fp32',
                   help='autocast dtype of the training step (losses stay fp32)')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--threads', type=int, help='torch CPU threads')
    p.add_argument('--no-flops', action='store_true', help='skip FLOP counting')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='overrides of the distillation config, e.g. '
                        'model.teacher_autocast=None')
    return p.parse_args(argv)


# ------------------------------------------------------------------ models
def load_config(stage: Stage, args) -> Config:
    cfg = Config.fromfile(osp.join(ROOT, args.config or stage.config))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.model.teacher_ckpt = None
    return cfg


def _with_top_level_preprocessor(model_cfg, cfg: Config) -> dict:
    """The Runner's rule: a top-level ``data_preprocessor`` applies to a model naming none."""
    model_cfg = copy.deepcopy(model_cfg)
    if cfg.get('data_preprocessor') is not None and 'data_preprocessor' not in model_cfg:
        model_cfg['data_preprocessor'] = copy.deepcopy(cfg.data_preprocessor)
    return model_cfg


def _fit_preprocessor(model: torch.nn.Module, img_size: int) -> None:
    """Crop/pad sizes of the preprocessor follow ``--img-size`` (e.g. seg's 512 crop)."""
    pre = model.data_preprocessor
    if getattr(pre, 'size', None) is not None:
        pre.size = (img_size, img_size)


def build_models(stage_name: str, args, with_student: bool = True):
    """``(distiller, student_only, cfg)``; ``student_only`` is ``None`` for ``gd``
    (and when ``with_student`` is false)."""
    from mmengine.registry import MODELS
    stage = STAGES[stage_name]
    cfg = load_config(stage, args)
    init_default_scope(cfg.get('default_scope', stage.scope))
    img_size = args.img_size or stage.img_size
    if stage_name == 'gd':
        for role in ('teacher', 'student'):
            cfg.model[role]['img_size'] = img_size
    model_cfg = _with_top_level_preprocessor(cfg.model, cfg)
    model_cfg.setdefault('_scope_', stage.scope)
    distiller = MODELS.build(model_cfg)
    student = None
    if stage_name != 'gd' and with_student:
        student = distiller.build_component(copy.deepcopy(cfg.model.student),
                                            _registry(stage.scope), 'student')
    for model in (distiller, student):
        if model is not None:
            _fit_preprocessor(model, img_size)
    return distiller, student, cfg


def _registry(scope: str):
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    elif scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    return MODELS


def optim_wrapper(model: torch.nn.Module, dtype: Optional[torch.dtype]) -> OptimWrapper:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    if dtype is None:
        return OptimWrapper(opt)
    return AnyDeviceAmpOptimWrapper(optimizer=opt, dtype=dtype,
                                    loss_scale='dynamic' if dtype == torch.float16 else 1.0)


# ----------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def median_ms(fn: Callable, device: torch.device, warmup: int, iters: int):
    """``(median milliseconds of fn over iters after warmup calls, its last output)``."""
    out = None
    for _ in range(warmup):
        out = fn()
    sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def peak_mem_mb(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def count_flops(fn: Callable) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_peak_flops(device: torch.device, dtype: Optional[torch.dtype],
                      size: Optional[int] = None, iters: int = 5) -> float:
    """FLOP/s of a square matmul in ``dtype`` on ``device`` (the attainable peak)."""
    size = size or (8192 if device.type == 'cuda' else 2048)
    a = torch.randn(size, size, device=device, dtype=dtype or torch.float32)
    b = torch.randn(size, size, device=device, dtype=dtype or torch.float32)
    seconds = median_ms(lambda: a @ b, device, warmup=2, iters=iters)[0] / 1e3
    return 2 * size ** 3 / seconds


def device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return (f'cpu ({platform.processor() or platform.machine()}, '
            f'{torch.get_num_threads()} threads)')


# ------------------------------------------------------------------- main
@dataclass
class Runs:
    """The three timed callables of one stage, on one prepared random batch."""
    distiller: torch.nn.Module
    teacher_forward: Callable
    student_step: Callable
    distill_step: Callable
    img_size: int


def prepare(args) -> Runs:
    """Build the stage's models and batch; return the teacher / student / distill callables."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    stage = STAGES[args.stage]
    img_size = args.img_size or stage.img_size
    torch.manual_seed(0)
    distiller, student, _ = build_models(args.stage, args)
    gen = torch.Generator().manual_seed(0)
    data = stage.make_batch(args.batch, img_size, gen, stage.classes(distiller.student))

    distiller.to(device).train()
    d_wrapper = optim_wrapper(distiller, dtype)
    autocast = (nullcontext if dtype is None else
                lambda: torch.autocast(device_type=device.type, dtype=dtype))
    with torch.no_grad(), autocast():
        prepared = distiller.data_preprocessor(copy.deepcopy(data), True)
    inputs, samples = prepared['inputs'], prepared['data_samples']

    def teacher_forward():
        with autocast():
            return stage.teacher(distiller, inputs, samples)

    def distill_step():
        return distiller.train_step(copy.deepcopy(data), d_wrapper)

    if student is None:  # gd: the distiller's student work, teacher target cached
        cached = teacher_forward()
        run_student = copy.copy(distiller)
        run_student.teacher_target = lambda imgs, mask: cached
        s_wrapper = d_wrapper
    else:
        run_student = student.to(device).train()
        s_wrapper = optim_wrapper(student, dtype)

    def student_step():
        return run_student.train_step(copy.deepcopy(data), s_wrapper)

    return Runs(distiller, teacher_forward, student_step, distill_step, img_size)


def benchmark(args) -> dict:
    if args.stage == 'seg' and args.batch < 2:
        raise ValueError('--stage seg needs --batch >= 2: the UPerHead pooling module trains '
                         'BatchNorm on 1x1 maps, which one image cannot do')
    runs = prepare(args)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    stage = STAGES[args.stage]
    img_size, distiller = runs.img_size, runs.distiller
    student_step, teacher_forward, distill_step = \
        runs.student_step, runs.teacher_forward, runs.distill_step
    result = {}
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    student_ms, _ = median_ms(student_step, device, args.warmup, args.iters)
    result['student_peak_mem_mb'] = round(peak_mem_mb(device), 1)
    teacher_ms, _ = median_ms(teacher_forward, device, args.warmup, args.iters)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    distill_ms, log_vars = median_ms(distill_step, device, args.warmup, args.iters)
    result['peak_mem_mb'] = round(peak_mem_mb(device), 1)
    overhead = distill_ms / (student_ms + teacher_ms)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    result = dict(
        stage=args.stage,
        distill_ms=round(distill_ms, 1),
        student_ms=round(student_ms, 1),
        teacher_ms=round(teacher_ms, 1),
        overhead=round(overhead, 3),
        img_per_s=round(args.batch / (distill_ms / 1e3), 2),
        student_img_per_s=round(args.batch / (student_ms / 1e3), 2),
        **result,
        loss=round(float(log_vars['loss']), 5),
        dtype=args.dtype,
        teacher_autocast=str(distiller.teacher_autocast).replace('torch.', ''),
        device=device_name(device),
        batch=args.batch,
        img_size=img_size,
        teacher_params_m=round(count(distiller.teacher) / 1e6, 2),
        student_params_m=round(count(distiller.student) / 1e6, 2),
        warmup=args.warmup,
        iters=args.iters,
        torch=torch.__version__,
        config=args.config or stage.config,
        cfg_options={k: str(v) for k, v in args.cfg_options.items()},
    )
    if not args.no_flops:
        flops = dict(teacher=count_flops(teacher_forward), student=count_flops(student_step),
                     distill=count_flops(distill_step))
        result.update({f'{k}_gflop_per_img': round(v / args.batch / 1e9, 3)
                       for k, v in flops.items()})
        achieved = flops['distill'] / (distill_ms / 1e3)
        peak = matmul_peak_flops(device, dtype)
        result.update(achieved_tflops=round(achieved / 1e12, 4),
                      matmul_peak_tflops=round(peak / 1e12, 4),
                      peak_fraction=round(achieved / peak, 3))
    return result


def main(argv=None):
    print(json.dumps(benchmark(parse_args(argv))))


if __name__ == '__main__':
    main()
