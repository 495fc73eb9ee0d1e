"""Launcher settings shared by tools/train.py and tools/test.py."""
import torch
from mmengine.config import Config


def prepare_launch_cfg(cfg: Config, launcher: str) -> Config:
    """Set ``cfg.launcher``; without CUDA, distributed runs use the gloo backend.

    NCCL (the usual config default) needs GPUs, so on a CPU-only machine a
    ``tools/dist_train.sh CONFIG 2`` run switches to gloo instead of failing.
    """
    cfg.launcher = launcher
    if launcher != 'none' and not torch.cuda.is_available():
        env_cfg = cfg.setdefault('env_cfg', {})
        dist_cfg = env_cfg.setdefault('dist_cfg', {})
        dist_cfg['backend'] = 'gloo'
    return cfg
