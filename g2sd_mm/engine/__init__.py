from .amp_optim_wrapper import AnyDeviceAmpOptimWrapper
from .finite_outputs_hook import FiniteOutputsHook
from .atomic_checkpoint import (ATOMIC_BACKEND, AtomicCheckpointHook, AtomicLocalBackend,
                                atomic_write)
from .launch import prepare_launch_cfg
from .layer_decay_optim_constructor import LayerDecayOptimWrapperConstructor, get_layer_id
from .mean_log_vars_hook import MeanLogVarsHook
from .random_state import (RandomStateHook, get_random_state, restore_random_state,
                           set_random_state)
from .resumable_loops import (ExactResumeEpochBasedTrainLoop, ExactResumeIterBasedTrainLoop,
                              ResumableBatchSampler)
from .safe_checkpoint import (CheckpointError, load_checkpoint_file,
                              register_safe_globals)

__all__ = ['AnyDeviceAmpOptimWrapper', 'CheckpointError', 'load_checkpoint_file', 'register_safe_globals',
           'prepare_launch_cfg', 'LayerDecayOptimWrapperConstructor', 'get_layer_id',
           'atomic_write', 'AtomicLocalBackend', 'AtomicCheckpointHook', 'ATOMIC_BACKEND',
           'RandomStateHook', 'get_random_state', 'set_random_state', 'restore_random_state',
           'ExactResumeIterBasedTrainLoop', 'ExactResumeEpochBasedTrainLoop',
           'ResumableBatchSampler', 'MeanLogVarsHook', 'FiniteOutputsHook']
