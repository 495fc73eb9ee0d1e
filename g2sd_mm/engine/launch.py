"""Config and launcher handling shared by tools/train.py and tools/test.py."""
import logging
import os
import os.path as osp

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ..checkpoint import CheckpointError, check_checkpoint_fits
from ..package_data import resolve_config_path
from .config_keys import check_top_level_keys
from .finite_outputs_hook import FiniteOutputsHook


def prepare_launch_cfg(cfg: Config, launcher: str) -> Config:
    """Set ``cfg.launcher`` and make distributed runs work on CPU-only machines.

    mmengine assumes an accelerator for distributed runs: it calls
    ``torch.cuda.set_device`` before creating the process group, configs
    default to NCCL, and the DDP wrapper gets ``device_ids=[LOCAL_RANK]``. On a
    machine without CUDA (``tools/dist_train.sh CONFIG 2`` on a laptop or CI)
    this function instead

    * selects the gloo backend,
    * creates the process group itself for the ``pytorch`` launcher (torchrun's
      ``env://`` variables), so mmengine skips its CUDA-only initialisation,
    * wraps the model in DDP with ``device_ids=None`` (CPU modules).

    With CUDA available the config is left as it is.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return cfg
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    elif wrapper.get('type', 'MMDistributedDataParallel') == 'MMDistributedDataParallel':
        wrapper['device_ids'] = None
    if launcher == 'pytorch' and not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    return cfg


def add_common_args(parser) -> None:
    """Arguments shared by tools/train.py and tools/test.py."""
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument(
        '--partial-load', action='store_true',
        help='load a checkpoint that does not fit the model (load_from, --resume FILE, '
        "test.py's CHECKPOINT): only the weights whose names and shapes match; refused "
        'without this flag')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local_rank, newer launchers --local-rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_tool_config(args) -> Config:
    """Read ``args.config``, apply ``--cfg-options`` and choose the work dir.

    ``args.config`` is a file or ``package::dir/file.py``
    (:func:`g2sd_mm.package_data.resolve_config_path`). Without ``--work-dir``
    (and none in the config) the work dir is ``./work_dirs/<config name>``,
    relative to the working directory. A misspelt top-level key (``lod_from``)
    is refused (:func:`~g2sd_mm.engine.config_keys.check_top_level_keys`), and
    :class:`~g2sd_mm.engine.FiniteOutputsHook` is added to ``custom_hooks``.
    """
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(resolve_config_path(args.config))
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    check_top_level_keys(cfg, args.config)
    drop_collate_fn_scope(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    add_finite_outputs_hook(cfg)
    return cfg


def add_finite_outputs_hook(cfg: Config) -> Config:
    """Append :class:`~g2sd_mm.engine.FiniteOutputsHook` to ``custom_hooks``
    (once): validation and test stop on non-finite predictions."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(isinstance(h, dict) and h.get('type') in ('FiniteOutputsHook', FiniteOutputsHook)
               for h in hooks):
        hooks.append(dict(type='FiniteOutputsHook'))
    cfg.custom_hooks = hooks
    return cfg


def check_checkpoint_fits_runner(runner, path: str, config: str, partial: bool) -> None:
    """Refuse ``path`` unless it fits the runner's model exactly (see
    :func:`~g2sd_mm.checkpoint.check_checkpoint_fits`); with
    ``partial`` (``--partial-load``) only log that it is loaded non-strictly.

    mmengine loads ``load_from`` and resume checkpoints non-strictly and only
    warns, so a checkpoint of another architecture would leave the model
    half-initialised. Remote checkpoints (``scheme://``) are not checked.
    """
    if partial:
        print_log(f'--partial-load: {path} is loaded non-strictly; weights whose names or '
                  'shapes do not match the model keep their initial values',
                  logger='current', level=logging.WARNING)
        return
    if '://' in str(path):
        print_log(f'{path}: a remote checkpoint is not checked against the model before '
                  'loading (mmengine loads it non-strictly)', logger='current',
                  level=logging.WARNING)
        return
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    try:
        check_checkpoint_fits(model, path, f'the model of {config}')
    except CheckpointError as e:
        if not str(e).startswith(f'{path} does not fit '):
            raise  # unreadable or unsafe: partial loading would not help
        raise CheckpointError(f'{e}. Pass --partial-load to load only the matching '
                              'weights.') from e


def drop_collate_fn_scope(cfg: Config) -> Config:
    """Remove ``_scope_`` from the dataloaders' ``collate_fn``.

    A config inherited through ``package::`` (``_base_ = ['g2sd_mm::...']``)
    has ``_scope_`` set on every component by mmengine, and mmengine's Runner
    (0.10.7) passes the ``collate_fn`` dict's keys to the collate function as
    keyword arguments: ``default_collate() got an unexpected keyword argument
    '_scope_'``. Collate functions are plain functions, the scope means nothing
    to them.
    """
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        collate_fn = (cfg.get(name) or {}).get('collate_fn')
        if isinstance(collate_fn, dict):
            collate_fn.pop('_scope_', None)
    return cfg


def finish_launch() -> None:
    """Tear the process group down in order before the interpreter exits.

    Leaving a gloo group to the interpreter's shutdown can abort a rank
    ("terminate called without an active exception") after a successful run.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
