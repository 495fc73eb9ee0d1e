"""Launcher settings shared by tools/train.py and tools/test.py."""
import torch
import torch.distributed as torch_dist
from mmengine.config import Config


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
