from .amp_optim_wrapper import AnyDeviceAmpOptimWrapper
from .atomic_checkpoint import ATOMIC_BACKEND, AtomicCheckpointHook, AtomicLocalBackend
from .finite_outputs_hook import FiniteOutputsHook
from .launch import prepare_launch_cfg
from .layer_decay_optim_constructor import LayerDecayOptimWrapperConstructor, get_layer_id
from .mean_log_vars_hook import MeanLogVarsHook
from .random_state import (RandomStateHook, get_random_state, restore_random_state,
                           set_random_state)
from .resumable_loops import (ExactResumeEpochBasedTrainLoop, ExactResumeIterBasedTrainLoop,
                              ResumableBatchSampler)

__all__ = ['AnyDeviceAmpOptimWrapper', 'prepare_launch_cfg', 'LayerDecayOptimWrapperConstructor',
           'get_layer_id', 'AtomicLocalBackend', 'AtomicCheckpointHook', 'ATOMIC_BACKEND',
           'RandomStateHook', 'get_random_state', 'set_random_state', 'restore_random_state',
           'ExactResumeIterBasedTrainLoop', 'ExactResumeEpochBasedTrainLoop',
           'ResumableBatchSampler', 'MeanLogVarsHook', 'FiniteOutputsHook']
