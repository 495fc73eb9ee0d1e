"""The shared distillation core: a trainable student and a frozen teacher."""
import copy
import os.path as osp
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine import dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.registry import Registry

_AUTOCAST_DTYPES = {None: None, 'bfloat16': torch.bfloat16, 'bf16': torch.bfloat16,
                    'float16': torch.float16, 'fp16': torch.float16}
TEACHER_PREFIX = 'teacher.'


class BaseDistiller(BaseModel):
    """A student that learns from a frozen teacher; the teacher never trains.

    What every G2SD stage shares lives here:

    * the teacher is built from a config (or given as a module), loaded by
      :meth:`load_teacher_checkpoint` (strict, subclass-specific), frozen
      (``requires_grad=False``), and kept in eval mode even after the runner
      calls ``model.train()``; its ``init_weights`` is disabled so the runner
      cannot overwrite the loaded weights;
    * :meth:`run_teacher` runs teacher code without autograd and, optionally,
      under a lower-precision autocast (``teacher_autocast``);
    * teacher weights are left out of ``state_dict()`` (checkpoints stay
      student-sized; the teacher is re-read from ``teacher_ckpt``), and loading
      a checkpoint without them is strict-safe;
    * a non-finite total loss raises ``FloatingPointError`` before the
      optimizer step, so no poisoned weights are stepped or saved;
    * ``predict``/``tensor`` modes run the student only.

    Subclasses implement :meth:`loss` and, if needed, ``predict``/``_forward``.

    Args:
        student (dict | nn.Module): student config or module.
        teacher (dict | nn.Module): teacher config or module.
        registry (Registry): registry used to build config dicts.
        teacher_ckpt (str, optional): teacher weights, loaded strictly.
        teacher_autocast (str, optional): ``'bfloat16'``/``'float16'`` to run
            the teacher under autocast even when the student is fp32.
        check_finite (bool): stop on a non-finite loss.
        data_preprocessor (dict, optional): mmengine data preprocessor; by
            default the student's own (e.g. ``DetDataPreprocessor``) is used.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 student: Union[dict, nn.Module],
                 teacher: Union[dict, nn.Module],
                 registry: Registry,
                 teacher_ckpt: Optional[str] = None,
                 teacher_autocast: Optional[str] = None,
                 check_finite: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if teacher_autocast not in _AUTOCAST_DTYPES:
            raise ValueError(f'teacher_autocast must be one of {list(_AUTOCAST_DTYPES)}, '
                             f'got {teacher_autocast!r}')
        self.teacher_autocast = _AUTOCAST_DTYPES[teacher_autocast]
        self.check_finite = check_finite
        self.student = self.build_component(student, registry, 'student')
        if data_preprocessor is None and isinstance(
                getattr(self.student, 'data_preprocessor', None), nn.Module):
            # teacher and student see the batch the student's own preprocessor makes
            self.data_preprocessor = self.student.data_preprocessor
        teacher = self.build_component(teacher, registry, 'teacher')
        self.teacher_ckpt = teacher_ckpt
        if teacher_ckpt:
            self.load_teacher_checkpoint(teacher, teacher_ckpt)
        self.teacher = teacher
        self._freeze_teacher()
        self._register_state_dict_hook(_drop_teacher_keys)
        self._register_load_state_dict_pre_hook(_fill_teacher_keys, with_module=True)

    # ------------------------------------------------------------ building
    @staticmethod
    def build_component(cfg: Union[dict, nn.Module], registry: Registry, name: str) -> nn.Module:
        """Build ``cfg`` with ``registry`` unless it is already a module.

        ``cfg`` may be ``dict(cfg_path=CONFIG, **overrides)``: the ``model`` of
        that config file (a path relative to the working directory or to the
        g2sd_mm checkout, or ``package::path``) merged with the overrides. The
        registry's scope is pinned (``_scope_``) unless the config names one,
        so the build does not depend on the runner's ``default_scope``.
        """
        if isinstance(cfg, nn.Module):
            return cfg
        if isinstance(cfg, dict):
            # ConfigDict all the way down: mm models read nested cfgs by attribute
            cfg = model_cfg_from_path(cfg) if 'cfg_path' in cfg else ConfigDict(copy.deepcopy(cfg))
            cfg.setdefault('_scope_', registry.scope)
            return registry.build(cfg)
        raise TypeError(f'{name} must be a config dict or an nn.Module, got {type(cfg).__name__}')

    def load_teacher_checkpoint(self, teacher: nn.Module, path: str) -> None:
        """Load teacher weights strictly; subclasses know the file layouts."""
        raise NotImplementedError(f'{type(self).__name__} does not load teacher checkpoints')

    def _freeze_teacher(self) -> None:
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.teacher.eval()
        # mmengine's init_weights() skips children marked initialised, so the
        # runner cannot re-initialise a loaded teacher.
        self.teacher.is_init = True

    def train(self, mode: bool = True) -> 'BaseDistiller':
        """Switch the student (and connectors) to ``mode``; the teacher stays in eval."""
        super().train(mode)
        self.teacher.eval()
        return self

    # ------------------------------------------------------------- teacher
    def run_teacher(self, fn: Callable, *args, **kwargs):
        """Call ``fn(*args, **kwargs)`` without autograd (and under ``teacher_autocast``)."""
        ctx = nullcontext()
        if self.teacher_autocast is not None:
            device = next(self.teacher.parameters()).device.type
            ctx = torch.autocast(device_type=device, dtype=self.teacher_autocast)
        with torch.no_grad(), ctx:
            return fn(*args, **kwargs)

    @staticmethod
    def warmup_factor(warmup_iters: int) -> float:
        """Linear distillation-loss warm-up: ``min(1, (iter + 1) / warmup_iters)``.

        The iteration is read from mmengine's message hub (the runner updates it
        every iteration); outside a runner it counts as iteration 0.
        """
        if warmup_iters <= 0:
            return 1.0
        it = MessageHub.get_current_instance().get_info('iter', 0)
        return min(1.0, (it + 1) / warmup_iters)

    # ------------------------------------------------------------- forward
    def forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, predict and tensor mode')

    def loss(self, inputs, data_samples=None) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def predict(self, inputs, data_samples=None) -> List:
        """Student predictions (the teacher is not run)."""
        return self.student(inputs, data_samples, mode='predict')

    def _forward(self, inputs, data_samples=None):
        """Student raw outputs (the teacher is not run)."""
        return self.student(inputs, data_samples, mode='tensor')

    def parse_losses(self, losses: Dict[str, torch.Tensor]):
        loss, log_vars = super().parse_losses(losses)
        if self.check_finite:
            bad = torch.tensor(0.0 if torch.isfinite(loss).all() else 1.0, device=loss.device)
            if dist.is_distributed():
                dist.all_reduce(bad)
            if bad.item() > 0:
                values = {k: float(v.detach().float().mean()) for k, v in log_vars.items()}
                raise FloatingPointError(
                    f'non-finite loss, training stopped before the optimizer step (no '
                    f'checkpoint is written from this state): {values}. Lower the learning '
                    'rate, check the input data, or use bf16 instead of fp16.')
        return loss, log_vars


def model_cfg_from_path(cfg: dict) -> ConfigDict:
    """``dict(cfg_path=..., **overrides)`` -> the model config of that file, overridden."""
    overrides = dict(cfg)
    path = overrides.pop('cfg_path')
    candidates = [path, osp.join(_REPO_ROOT, path)]
    found = next((p for p in candidates if '::' in p or osp.isfile(p)), None)
    if found is None:
        raise FileNotFoundError(f'model config not found: {path} (looked in the working '
                                f'directory and in {_REPO_ROOT})')
    merged = Config(dict(model=Config.fromfile(found).model.to_dict()))
    if overrides:  # nested keys merge (``_delete_`` too), as in config inheritance
        merged.merge_from_dict(dict(model=overrides))
    return merged.model


_REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _drop_teacher_keys(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + TEACHER_PREFIX)]:
        del state_dict[key]
    return state_dict


def _fill_teacher_keys(module, state_dict, prefix, local_metadata, strict, missing_keys,
                       unexpected_keys, error_msgs):
    for name, value in module.teacher.state_dict().items():
        state_dict.setdefault(prefix + TEACHER_PREFIX + name, value)
