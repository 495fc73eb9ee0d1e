from .amp_optim_wrapper import AnyDeviceAmpOptimWrapper
from .launch import prepare_launch_cfg
from .layer_decay_optim_constructor import LayerDecayOptimWrapperConstructor, get_layer_id
from .safe_checkpoint import (CheckpointError, load_checkpoint_file,
                              register_safe_globals)

__all__ = ['AnyDeviceAmpOptimWrapper', 'CheckpointError', 'load_checkpoint_file', 'register_safe_globals',
           'prepare_launch_cfg', 'LayerDecayOptimWrapperConstructor', 'get_layer_id']
