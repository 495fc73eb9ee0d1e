"""Log the training losses averaged over all processes instead of rank 0's."""
import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ['MeanLogVarsHook']


@HOOKS.register_module()
class MeanLogVarsHook(Hook):
    """Average the scalar outputs of ``train_step`` (the logged losses) over all processes.

    In a distributed run mmengine logs the loss of rank 0, i.e. of one
    process's share of the batch. This hook replaces every scalar in the
    ``train_step`` outputs by its (unweighted) mean over the processes, in
    float64, before mmengine records it, so the log shows the loss of the
    whole batch when the processes have equal batch sizes (as DDP's gradient
    average assumes). One ``all_reduce`` of a few numbers per iteration; it
    does not change training. Single-process runs are left as they are::

        custom_hooks = [dict(type='MeanLogVarsHook')]
    """

    priority = 'HIGHEST'  # before RuntimeInfoHook (VERY_HIGH) records the outputs

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not is_distributed() or not outputs:
            return
        keys = [k for k, v in outputs.items()
                if isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1)]
        if not keys:
            return
        values = torch.stack([torch.as_tensor(outputs[k]).detach().reshape(()).to(
            'cpu', torch.float64) for k in keys])
        all_reduce(values, op='mean')
        for key, value in zip(keys, values):
            outputs[key] = value
