from .amp_optim_wrapper import AnyDeviceAmpOptimWrapper
from .launch import prepare_launch_cfg
from .safe_checkpoint import (CheckpointError, load_checkpoint_file,
                              register_safe_globals)

__all__ = ['AnyDeviceAmpOptimWrapper', 'CheckpointError', 'load_checkpoint_file', 'register_safe_globals',
           'prepare_launch_cfg']
