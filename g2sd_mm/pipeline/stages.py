"""Stage kinds: the fields each one offers to later stages and when it is complete.

=========  ==========================================  =====================================
type       fields (``{name.FIELD}``)                    complete when
=========  ==========================================  =====================================
train      ``work_dir``, ``checkpoint`` (final one)     the final checkpoint is a non-empty
                                                        readable file; ``last_checkpoint``
                                                        pointing to an existing earlier one
                                                        = interrupted (resumed)
test       ``work_dir``, ``metrics``                    ``metrics`` is a JSON object
command    ``output`` (first of ``outputs``)            every output exists (no outputs:
                                                        never, the command always runs)
file       ``path``                                     ``path`` exists; else an error with
                                                        the stage's ``hint``
=========  ==========================================  =====================================
"""
import json
import os.path as osp
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from .cfg_options import OptionError, build_config, config_file, option_args


class StageSpecError(ValueError):
    """A stage's fields are missing, of the wrong type or name a missing config."""


@dataclass
class State:
    """``status``: 'complete', 'resume' (interrupted train), 'run' or 'missing' (file)."""
    status: str
    reason: str


def _is_readable_file(path: str) -> bool:
    try:
        with open(path, 'rb') as f:
            return len(f.read(1)) == 1
    except OSError:
        return False


def _progress(checkpoint: str) -> Tuple[str, int]:
    """``('epoch', 3)`` for ``.../epoch_3.pth``; ``('', -1)`` for other names."""
    m = re.search(r'(epoch|iter)_(\d+)\.pth$', checkpoint)
    return (m.group(1), int(m.group(2))) if m else ('', -1)


class StageKind:
    """Base class: required/optional fields, template fields, state."""
    type = ''
    required: tuple = ()
    optional: tuple = ()

    def check(self, name: str, spec: Dict[str, Any]) -> None:
        missing = [k for k in self.required if k not in spec]
        unknown = [k for k in spec if k not in self.required + self.optional]
        where = f'stage {name!r} (type {self.type!r})'
        if missing:
            raise StageSpecError(f'{where}: missing field(s) {missing}')
        if unknown:
            raise StageSpecError(f'{where}: unknown field(s) {unknown}; allowed: '
                                 f'{list(self.required + self.optional)}')

    def fields(self, name: str, spec: Dict[str, Any], work_dir: str,
               root: str) -> Dict[str, str]:
        raise NotImplementedError

    def state(self, fields: Dict[str, str], spec: Dict[str, Any], root: str) -> State:
        raise NotImplementedError


def _list_of_str(name: str, spec: Dict[str, Any], key: str) -> List[str]:
    value = spec.get(key, [])
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (str, int, float)) for v in value):
        raise StageSpecError(f'stage {name!r}: {key!r} must be a list of strings, got {value!r}')
    return [str(v) for v in value]


class _RunsConfig(StageKind):
    """Shared by train and test: a config, its ``cfg_options`` and the work dir."""

    def option_args(self, name: str, spec: Dict[str, Any]) -> List[str]:
        options = spec.get('cfg_options') or {}
        if not isinstance(options, dict):
            raise StageSpecError(f'stage {name!r}: cfg_options must be a dict, got {options!r}')
        try:
            return option_args(options, f'stage {name!r}, cfg_options')
        except OptionError as e:
            raise StageSpecError(str(e)) from e

    def check(self, name: str, spec: Dict[str, Any]) -> None:
        super().check(name, spec)
        _list_of_str(name, spec, 'args')


class TrainKind(_RunsConfig):
    type = 'train'
    required = ('config', )
    optional = ('cfg_options', 'args', 'work_dir')

    def fields(self, name, spec, work_dir, root):
        stage_dir = spec.get('work_dir') or f'{work_dir}/{name}'
        try:
            cfg = build_config(spec['config'], self.option_args(name, spec), root)
        except FileNotFoundError as e:
            raise StageSpecError(f'stage {name!r}: config not found: {e}') from e
        train_cfg = cfg.get('train_cfg') or {}
        if 'max_iters' in train_cfg:
            last = f'iter_{train_cfg["max_iters"]}.pth'
        elif 'max_epochs' in train_cfg:
            last = f'epoch_{train_cfg["max_epochs"]}.pth'
        else:
            raise StageSpecError(f'stage {name!r}: {spec["config"]} has no train_cfg.max_iters '
                                 'or train_cfg.max_epochs: cannot name its final checkpoint')
        return dict(work_dir=stage_dir, checkpoint=f'{stage_dir}/{last}')

    def state(self, fields, spec, root):
        final = osp.join(root, fields['checkpoint'])
        if _is_readable_file(final):
            return State('complete', f'final checkpoint exists: {fields["checkpoint"]}')
        pointer = osp.join(root, fields['work_dir'], 'last_checkpoint')
        if osp.isfile(pointer):
            with open(pointer) as f:
                last = f.read().strip()
            if last and _is_readable_file(osp.join(root, last)):
                if _progress(last) < _progress(fields['checkpoint']):
                    return State('resume', f'interrupted: resuming from {last}')
                return State('run', f'{last} is not before the final checkpoint '
                             f'{fields["checkpoint"]} (schedule changed): training from scratch')
        return State('run', f'final checkpoint not found: {fields["checkpoint"]}')


class TestKind(_RunsConfig):
    type = 'test'
    required = ('config', 'checkpoint')
    optional = ('cfg_options', 'args', 'work_dir', 'metrics')

    def fields(self, name, spec, work_dir, root):
        stage_dir = spec.get('work_dir') or f'{work_dir}/{name}'
        self.option_args(name, spec)
        try:
            config_file(spec['config'], root)
        except FileNotFoundError as e:
            raise StageSpecError(f'stage {name!r}: config not found: {e}') from e
        return dict(work_dir=stage_dir, metrics=spec.get('metrics') or f'{stage_dir}/metrics.json')

    def state(self, fields, spec, root):
        path = osp.join(root, fields['metrics'])
        try:
            with open(path) as f:
                ok = isinstance(json.load(f), dict)
        except (OSError, ValueError):
            ok = False
        if ok:
            return State('complete', f'metrics exist: {fields["metrics"]}')
        return State('run', f'no readable metrics: {fields["metrics"]}')


class CommandKind(StageKind):
    type = 'command'
    required = ('cmd', )
    optional = ('outputs', )

    def check(self, name, spec):
        super().check(name, spec)
        if not _list_of_str(name, spec, 'cmd'):
            raise StageSpecError(f'stage {name!r}: cmd is empty')
        _list_of_str(name, spec, 'outputs')

    def fields(self, name, spec, work_dir, root):
        outputs = _list_of_str(name, spec, 'outputs')
        return dict(output=outputs[0]) if outputs else {}

    def state(self, fields, spec, root):
        outputs = _list_of_str('', spec, 'outputs')
        if not outputs:
            return State('run', 'no outputs declared: always runs')
        missing = [p for p in outputs if not osp.exists(osp.join(root, p))]
        if missing:
            return State('run', f'output missing: {missing[0]}')
        return State('complete', f'outputs exist: {", ".join(outputs)}')


class FileKind(StageKind):
    type = 'file'
    required = ('path', )
    optional = ('hint', )

    def fields(self, name, spec, work_dir, root):
        return dict(path=str(spec['path']))

    def state(self, fields, spec, root):
        if osp.exists(osp.join(root, fields['path'])):
            return State('complete', f'file exists: {fields["path"]}')
        hint = spec.get('hint')
        return State('missing', f'required file not found: {fields["path"]}'
                     + (f' ({hint})' if hint else ''))


KINDS: Dict[str, StageKind] = {k.type: k for k in (TrainKind(), TestKind(), CommandKind(),
                                                    FileKind())}
