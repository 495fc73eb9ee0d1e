"""The shared distillation core: a trainable student and a frozen teacher."""
import copy
import difflib
import inspect
import logging
import re
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine import dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel
from mmengine.registry import Registry

from ...package_data import resolve_config_path
from .argument_types import check_argument_types

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
    * ``predict``/``tensor`` modes run the student only;
    * a misspelt argument (``teacher_ckp=``) or a misspelt key of a nested
      config (``distill_loss=dict(type='FRSLoss', feat_weigth=...)``) raises a
      ``TypeError`` naming the key, the component and the closest valid name;
    * a scalar argument of the wrong type (``mask_ratio=[0, 75]``, a list from
      ``--cfg-options model.mask_ratio=0,75``) raises a ``TypeError`` naming
      the key and the expected type (:mod:`.argument_types`).

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

    def __new__(cls, *args, **kwargs):
        # Runs before ``__init__`` binds the arguments, so a misspelt keyword
        # gets a "did you mean" instead of Python's bare TypeError.
        valid = _keyword_names(cls.__init__)
        unknown = [k for k in kwargs if valid is not None and k not in valid]
        if unknown:
            raise TypeError(unexpected_keywords_message(cls.__name__, unknown, valid))
        check_argument_types(cls.__name__, cls.__init__, kwargs)
        return super().__new__(cls)

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
        teacher_cfg, teacher = teacher, self.build_component(teacher, registry, 'teacher')
        self.teacher_ckpt = teacher_ckpt
        if teacher_ckpt:
            self.load_teacher_checkpoint(teacher, teacher_ckpt)
        elif not isinstance(teacher_cfg, nn.Module):
            print_log(f'{type(self).__name__}: no teacher_ckpt given, so the teacher keeps '
                      'the random weights it was built with (its init_cfg is not run)',
                      logger='current', level=logging.WARNING)
        self.teacher = teacher
        self._freeze_teacher()
        self._register_state_dict_hook(_drop_teacher_keys)
        self._register_load_state_dict_pre_hook(_fill_teacher_keys, with_module=True)

    # ------------------------------------------------------------ building
    @staticmethod
    def build_component(cfg: Union[dict, nn.Module], registry: Registry, name: str) -> nn.Module:
        """Build ``cfg`` with ``registry`` unless it is already a module.

        ``cfg`` may be ``dict(cfg_path=CONFIG, **overrides)``: the ``model`` of
        that config file merged with the overrides. ``CONFIG`` is
        ``package::dir/file.py`` (a config shipped by g2sd_mm or an installed
        OpenMMLab package: ``mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py``)
        or a path relative to the working directory (``configs/...`` falls back
        to g2sd_mm's own configs); see
        :func:`g2sd_mm.package_data.resolve_config_path`. The
        registry's scope is pinned (``_scope_``) unless the config names one,
        so the build does not depend on the runner's ``default_scope``.
        """
        if isinstance(cfg, nn.Module):
            return cfg
        if isinstance(cfg, dict):
            if 'cfg_path' not in cfg and 'type' not in cfg:
                hint = ''
                for key in map(str, cfg):
                    close = difflib.get_close_matches(key, ['cfg_path', 'type'], n=1)
                    if close:
                        hint = f' (did you mean {close[0]!r} instead of {key!r}?)'
                        break
                raise ValueError(f'{name}: the config needs a "type" or a "cfg_path" key{hint}; '
                                 f'it has {sorted(map(str, cfg))}')
            # ConfigDict all the way down: mm models read nested cfgs by attribute
            if 'cfg_path' in cfg:
                try:
                    cfg = model_cfg_from_path(cfg)
                except FileNotFoundError as e:
                    raise FileNotFoundError(f'{name}: {e}') from e
            else:
                cfg = ConfigDict(copy.deepcopy(cfg))
            cfg.setdefault('_scope_', registry.scope)
            _check_registered(cfg, registry, name)
            try:
                return registry.build(cfg)
            except TypeError as e:
                message = explain_unexpected_keyword(e, registry, cfg['_scope_'])
                if message is None:
                    raise
                raise TypeError(f'{name} (type={cfg.get("type")!r}): {message}') from e
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
    file_cfg = Config.fromfile(resolve_config_path(overrides.pop('cfg_path')))
    model = file_cfg.model.to_dict()
    if file_cfg.get('data_preprocessor') is not None:
        # as the Runner does: a top-level data_preprocessor (mmpretrain's dataset
        # configs) applies to a model that names none
        model.setdefault('data_preprocessor', file_cfg.data_preprocessor.to_dict())
    merged = Config(dict(model=model))
    if overrides:  # nested keys merge (``_delete_`` too), as in config inheritance
        merged.merge_from_dict(dict(model=overrides))
    return merged.model


def _drop_teacher_keys(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + TEACHER_PREFIX)]:
        del state_dict[key]
    return state_dict


def _fill_teacher_keys(module, state_dict, prefix, local_metadata, strict, missing_keys,
                       unexpected_keys, error_msgs):
    for name, value in module.teacher.state_dict().items():
        state_dict.setdefault(prefix + TEACHER_PREFIX + name, value)


# --------------------------------------------------------- argument checks
_UNEXPECTED_KEYWORD = re.compile(
    r"^(?:(?P<cls>\w+)\.)?__init__\(\) got an unexpected keyword argument '(?P<key>\w+)'$")


def _keyword_names(fn: Callable) -> Optional[List[str]]:
    """Names ``fn`` accepts as keywords; ``None`` if it takes ``**kwargs``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name != 'self' and
            p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def unexpected_keywords_message(owner: str, unknown: Sequence[str],
                                valid: Sequence[str]) -> str:
    """``owner got unexpected keyword argument(s) 'x' (did you mean 'y'?); valid: ...``."""
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        parts.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ''))
    noun = 'argument' if len(parts) == 1 else 'arguments'
    return (f'{owner} got an unexpected keyword {noun} {", ".join(parts)}; '
            f'valid arguments: {", ".join(valid)}')


def _class_from_traceback(err: BaseException, name: str) -> Optional[type]:
    """The class ``name`` whose constructor refused a keyword, when the call
    happened inside another constructor (``super().__init__(**kwargs)``): a
    base class of the object that frame was building."""
    tb = err.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    obj = tb.tb_frame.f_locals.get('self')
    return next((c for c in type(obj).__mro__ if c.__name__ == name), None) \
        if obj is not None else None


def explain_unexpected_keyword(err: TypeError, registry: Registry,
                               scope: Optional[str]) -> Optional[str]:
    """Python's "X.__init__() got an unexpected keyword argument 'k'" with the
    closest valid name of ``X`` (looked up in ``registry``); ``None`` if
    ``err`` is another ``TypeError``."""
    match = _UNEXPECTED_KEYWORD.match(str(err))
    if match is None:
        return None
    cls_name, key = match.group('cls'), match.group('key')
    valid = None
    if cls_name:
        cls = _class_from_traceback(err, cls_name)
        if cls is None:
            with registry.switch_scope_and_registry(scope) as reg:
                cls = reg.get(cls_name)
        if inspect.isclass(cls) and cls.__name__ == cls_name:
            valid = _keyword_names(cls.__init__)
    if not valid:
        return str(err)
    return unexpected_keywords_message(cls_name, [key], valid)


def _check_registered(cfg: dict, registry: Registry, name: str) -> None:
    """A ``type`` missing from the registry: name the component and the closest types."""
    obj_type = cfg.get('type')
    if not isinstance(obj_type, str):
        return
    with registry.switch_scope_and_registry(cfg.get('_scope_')) as reg:
        if reg.get(obj_type) is not None:
            return
        known, node = set(), reg
        while node is not None:
            known.update(node.module_dict)
            node = node.parent
    close = difflib.get_close_matches(obj_type.split('.')[-1], sorted(known), n=3, cutoff=0.6)
    hint = f' (did you mean {" or ".join(map(repr, close))}?)' if close else ''
    raise KeyError(f'{name}: type {obj_type!r} is not in the {reg.scope}::{reg.name} '
                   f'registry{hint}')
