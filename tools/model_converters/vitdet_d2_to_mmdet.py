"""Convert a detectron2 ViTDet Mask R-CNN checkpoint to our mmdet Mask R-CNN.

    python tools/model_converters/vitdet_d2_to_mmdet.py IN OUT [--arch b|l|s|t]
        [--config CFG] [--keep-adapters] [--trust-pickle]

Inputs: the detectron2 model zoo's ``mask_rcnn_vitdet_{b,l}`` ``model_final_*.pkl``
(read without general unpickling: only plain data and numpy arrays) or a
detectron2 ``DetectionCheckpointer`` ``.pth`` such as the G2SD reference's
detection students (ViTDet plus ``stu_adapter.*``) and teachers.

The output ``{'state_dict': ..., 'meta': ...}`` is checked against the model
built from ``--config`` (default: our COCO config of that ViT size, see
``DEFAULT_CONFIGS``): every source tensor is used and every target tensor
filled, otherwise the leftovers are named and nothing is written. A file of
another ViT size than ``--arch`` is refused. Use it with ``tools/test.py CFG
OUT`` or as ``teacher_ckpt`` of the G2SD detection configs.

``--keep-adapters`` (G2SD reference students) writes a ``DetectionDistiller``
state dict instead (``student.*`` + ``adapters.N`` from ``stu_adapter.conv.N``)
checked against ``configs/det/g2sd_vit{s,t}_maskrcnn.py`` (``load_from`` of a
distillation run); without it the adapters are dropped and listed.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config

DEFAULT_CONFIGS = {
    't': 'configs/det/vitdet_mask-rcnn_vit-t-g2sd_simple-fpn_8xb8-lsj-100e_coco.py',
    's': 'configs/det/vitdet_mask-rcnn_vit-s-g2sd_simple-fpn_8xb8-lsj-100e_coco.py',
    'b': 'configs/det/vitdet_mask-rcnn_vit-b-mae_simple-fpn_8xb8-lsj-100e_coco.py',
    'l': 'configs/det/vitdet_mask-rcnn_vit-l-mae_simple-fpn_8xb8-lsj-100e_coco.py',
}
DISTILL_CONFIGS = {
    't': 'configs/det/g2sd_vitt_maskrcnn.py',
    's': 'configs/det/g2sd_vits_maskrcnn.py',
}


def build_target(config: str):
    """The model of ``config`` (on CPU, randomly initialised: only names and shapes
    are used) and its data preprocessor's (mean, std) in input channel order."""
    import g2sd_mm  # noqa: F401  (registers the components)
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    model_cfg = cfg.model
    if model_cfg.get('type') == 'DetectionDistiller':
        model_cfg.teacher_ckpt = None  # the teacher is not part of the state dict
    # built in mmdet's scope without changing the caller's default scope
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(model_cfg)
    pre = model_cfg.get('data_preprocessor')
    if pre is None and 'student' in model_cfg:  # a distiller uses the student's
        from g2sd_mm.models.algorithms.base_distiller import model_cfg_from_path
        student = model_cfg.student
        student = model_cfg_from_path(student) if 'cfg_path' in student else student
        pre = student.get('data_preprocessor')
    pre = pre or {}
    return model, pre.get('mean'), pre.get('std')


def main(argv=None):
    from g2sd_mm.checkpoint import add_trust_pickle_argument
    parser = argparse.ArgumentParser(description='detectron2 ViTDet -> g2sd_mm Mask R-CNN')
    parser.add_argument('src', help='detectron2 .pkl or .pth')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--arch', choices=sorted(DEFAULT_CONFIGS),
                        help='ViT size of the file (refused if it holds another); '
                        'default: read from the file')
    parser.add_argument('--config', help='target config (default: by --arch, see module doc)')
    parser.add_argument('--keep-adapters', action='store_true',
                        help='write a DetectionDistiller state dict with the G2SD reference '
                        'stu_adapter convs as adapters.N')
    add_trust_pickle_argument(parser, 'a .pth input (.pkl files never need it)')
    args = parser.parse_args(argv)

    from g2sd_mm.checkpoint.detectron2_vitdet import VIT_ARCHS, check_vit_arch, \
        convert_d2_vitdet, read_d2_checkpoint
    from g2sd_mm.checkpoint.layouts.detectron2 import split_d2_state
    from g2sd_mm.checkpoint import CheckpointError, atomic_save
    from g2sd_mm.package_data import resolve_config_path

    try:  # refuse a wrong file before building the target model
        weights = split_d2_state(read_d2_checkpoint(
            args.src, trust_pickle=args.trust_pickle)['model'])[0]
        found = check_vit_arch(weights, args.arch, args.src)
    except CheckpointError as e:
        sys.exit(f'error: {e}')
    del weights
    arch = args.arch or next((a for a, v in VIT_ARCHS.items() if v == (
        found['embed_dim'], found['depth'], found['num_heads'])), None)
    if arch not in DEFAULT_CONFIGS and not args.config:
        sys.exit(f'{args.src}: ViT {found} has no default config; pass --config')
    config = args.config or (DISTILL_CONFIGS if args.keep_adapters else DEFAULT_CONFIGS).get(arch)
    if config is None:
        sys.exit(f'--keep-adapters needs --config for arch {arch} (defaults exist for '
                 f'{sorted(DISTILL_CONFIGS)})')
    config = resolve_config_path(config)  # a file, package::name or configs/... of g2sd_mm
    model, mean, std = build_target(config)
    prefix = 'student.' if hasattr(model, 'student') else ''
    if args.keep_adapters and not hasattr(model, 'adapters'):
        sys.exit(f'--keep-adapters: {config} is not a DetectionDistiller config')
    try:
        result = convert_d2_vitdet(args.src, model.state_dict(), arch=args.arch, prefix=prefix,
                                   keep_adapters=args.keep_adapters, pixel_mean=mean,
                                   pixel_std=std, trust_pickle=args.trust_pickle)
    except CheckpointError as e:
        sys.exit(f'error: {e}')
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    meta = dict(source=osp.abspath(args.src), config=config, converter='vitdet_d2_to_mmdet',
                arch=result['arch'], **{f'd2_{k}': v for k, v in result['info'].items()})
    atomic_save(dict(state_dict=result['state'], meta=meta), args.dst)
    print(f'{args.src} -> {args.dst}: {len(result["state"])} tensors for {config}')
    if result['dropped']:
        print(f'dropped {len(result["dropped"])} stu_adapter tensors (distillation adapters, '
              'not part of the detector; --keep-adapters keeps them): '
              + ', '.join(result['dropped']))


if __name__ == '__main__':
    main()
