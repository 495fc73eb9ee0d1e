"""Mixed precision that also runs on the CPU."""
from contextlib import contextmanager
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                             is_npu_available)
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


def _accelerator_available() -> bool:
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


@OPTIM_WRAPPERS.register_module()
class AnyDeviceAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` that also works without an accelerator.

    On GPU/NPU/MLU/MUSA it is exactly ``AmpOptimWrapper`` (fp16 with a dynamic
    loss scaler by default, ``dtype='bfloat16'`` for bf16). mmengine's wrapper
    refuses to run on the CPU; here, on the CPU, the forward pass runs under
    ``torch.autocast('cpu', dtype)`` with ``dtype`` defaulting to bfloat16
    (no loss scaling needed), and float16 uses ``torch.amp.GradScaler('cpu')``.
    Optimizer and scaler state are saved and resumed like mmengine's.

    Args:
        loss_scale: ``'dynamic'``, a float or a ``GradScaler`` kwargs dict
            (ignored for bfloat16 on the CPU).
        dtype: ``'float16'``, ``'bfloat16'`` or ``None`` (device default).
        use_fsdp (bool): as in ``AmpOptimWrapper`` (accelerators only).
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).
    """

    def __init__(self, loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 use_fsdp: bool = False, **kwargs):
        self.device_type = 'cuda' if _accelerator_available() else 'cpu'
        if self.device_type != 'cpu':
            super().__init__(loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp, **kwargs)
            return
        OptimWrapper.__init__(self, **kwargs)
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'dtype should be one of {self.valid_dtypes}, got {dtype}')
            dtype = getattr(torch, dtype)
        self.cast_dtype = torch.bfloat16 if dtype is None else dtype
        self._scale_update_param = None
        if self.cast_dtype == torch.float16:
            if isinstance(loss_scale, float):
                self._scale_update_param = loss_scale
                self.loss_scaler = torch.amp.GradScaler('cpu', init_scale=loss_scale)
            elif isinstance(loss_scale, dict):
                self.loss_scaler = torch.amp.GradScaler('cpu', **loss_scale)
            else:
                self.loss_scaler = torch.amp.GradScaler('cpu')
        else:  # bf16 keeps fp32's exponent range: no scaling
            self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)

    @contextmanager
    def optim_context(self, model: nn.Module):
        if self.device_type != 'cpu':
            with super().optim_context(model):
                yield
            return
        with OptimWrapper.optim_context(self, model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield

    def load_state_dict(self, state_dict: dict) -> None:
        # A bf16 run saves the empty state of its disabled scaler; an fp16
        # scaler resuming from it starts from its initial scale instead.
        if 'loss_scaler' in state_dict and not state_dict['loss_scaler']:
            state_dict = {k: v for k, v in state_dict.items() if k != 'loss_scaler'}
        super().load_state_dict(state_dict)
