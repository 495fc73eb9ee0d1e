"""``--cfg-options`` of a train/test stage: from a dict to arguments and back.

A stage's ``cfg_options`` is a dict ``{'model.teacher_ckpt': 'x.pth', ...}``.
It is passed to ``tools/train.py`` / ``tools/test.py`` as ``key=value``
arguments, and the final checkpoint name is derived from the config *as those
tools build it*: the arguments are parsed back with mmengine's ``DictAction``
(the parser the tools use), so both see the same values.
"""
import argparse
import copy
import functools
import os.path as osp
from typing import Any, Dict, List

from mmengine.config import Config, DictAction

from ..package_data import resolve_config_path


class OptionError(ValueError):
    """A ``cfg_options`` value cannot be written as a ``key=value`` argument."""


def format_value(value: Any, where: str) -> str:
    """``value`` as ``DictAction`` reads it back: lists ``[a,b]``, tuples ``(a,b)``."""
    if value is None or isinstance(value, (bool, int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return '[' + ','.join(format_value(v, where) for v in value) + ']'
    if isinstance(value, tuple):
        return '(' + ','.join(format_value(v, where) for v in value) + ')'
    raise OptionError(f'{where}: a {type(value).__name__} value cannot be passed as '
                      f'--cfg-options key=value (give each leaf key separately): {value!r}')


def option_args(options: Dict[str, Any], where: str) -> List[str]:
    """``['k1=v1', 'k2=v2', ...]`` for ``--cfg-options``."""
    return [f'{key}={format_value(value, f"{where}[{key!r}]")}' for key, value in options.items()]


def parse_option_args(args: List[str]) -> Dict[str, Any]:
    """The dict ``tools/train.py`` makes of ``--cfg-options args`` (mmengine ``DictAction``)."""
    namespace = argparse.Namespace()
    DictAction(option_strings=['--cfg-options'], dest='cfg_options')(
        argparse.ArgumentParser(), namespace, list(args))
    return getattr(namespace, 'cfg_options', None) or {}


def config_file(config: str, root: str) -> str:
    """The file of ``config`` as a tool started in ``root`` finds it (see
    :func:`g2sd_mm.package_data.resolve_config_path`); FileNotFoundError names it."""
    if '::' not in config and osp.isfile(osp.join(root, config)):
        return osp.join(root, config)
    return resolve_config_path(config)


@functools.lru_cache(maxsize=None)
def _read_config(path: str) -> Config:
    return Config.fromfile(path, import_custom_modules=False)


def build_config(config: str, args: List[str], root: str) -> Config:
    """``config`` read and overridden as ``tools/train.py CONFIG --cfg-options ARGS``
    started in ``root`` does."""
    cfg = copy.deepcopy(_read_config(config_file(config, root)))
    if args:
        cfg.merge_from_dict(parse_option_args(args))
    return cfg
