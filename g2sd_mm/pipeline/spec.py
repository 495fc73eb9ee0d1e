"""Pipeline configs: variables, stages and template resolution.

A pipeline config is an mmengine config (``_base_`` inheritance works) with

* top-level scalars (``work_dir``, ``data_root``, ``seed``, ...): template
  variables, written ``'{data_root}'``; a variable may use other variables;
* ``stages``: a dict of stages keyed by name, run in insertion order; each has a
  ``type`` (see :mod:`.stages`) and fields whose strings may use variables and
  the fields of *earlier* stages (``'{gd.checkpoint}'``);
* optionally ``results = dict(cls=[TEACHER_TEST, STUDENT_TEST, G2SD_TEST], ...)``:
  the test stages whose metrics make the retention table.

Every template is resolved when the pipeline is loaded, before anything runs;
an unknown variable, an unknown or later stage, or an unknown field is an error
naming the stage and the field. Relative paths are relative to ``root`` (the
repository root), where the stages' commands run.
"""
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from mmengine.config import Config

from .stages import KINDS, State, StageSpecError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEMPLATE = re.compile(r'\{([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?\}')
RESERVED = ('stages', 'results')
SCALARS = (str, int, float, bool)


class PipelineError(ValueError):
    """The pipeline config is invalid; the message names the stage and field."""


@dataclass
class Stage:
    """One resolved stage: ``spec`` has every template replaced, ``fields`` are
    what later stages may reference as ``{name.FIELD}``."""
    name: str
    type: str
    spec: Dict[str, Any]
    fields: Dict[str, str]
    deps: List[str] = field(default_factory=list)  # earlier stages whose fields it uses
    after: List[str] = field(default_factory=list)  # earlier stages it only runs after
    shared: bool = False  # taken over from another run of the pipeline (not run here)

    def state(self, root: str) -> State:
        return KINDS[self.type].state(self.fields, self.spec, root)


@dataclass
class Pipeline:
    path: str
    root: str
    variables: Dict[str, Any]
    stages: Dict[str, Stage]
    results: Dict[str, List[str]] = field(default_factory=dict)

    @property
    def work_dir(self) -> str:
        return str(self.variables['work_dir'])

    def abspath(self, path: str) -> str:
        return osp.join(self.root, path)


def substitute(value: Any, lookup: Callable[[str, Optional[str], str], str], where: str) -> Any:
    """``value`` with every ``{var}`` / ``{stage.field}`` in its strings replaced."""
    if isinstance(value, str):
        return TEMPLATE.sub(lambda m: str(lookup(m.group(1), m.group(2), where)), value)
    if isinstance(value, (list, tuple)):
        return type(value)(substitute(v, lookup, f'{where}[{i}]') for i, v in enumerate(value))
    if isinstance(value, Mapping):
        return {substitute(k, lookup, where): substitute(v, lookup, f'{where}[{k!r}]')
                for k, v in value.items()}
    return value


def resolve_variables(raw: Dict[str, Any]) -> Dict[str, Any]:
    """Variables with the templates in their values replaced (by other variables)."""
    done: Dict[str, Any] = {}

    def get(name: str, stack: List[str]) -> Any:
        if name in done:
            return done[name]
        if name in stack:
            raise PipelineError(f'variable {stack[0]!r}: circular reference '
                                f'{" -> ".join(stack + [name])}')

        def lookup(var, fld, where):
            if fld is not None:
                raise PipelineError(f'{where}: {{{var}.{fld}}} refers to a stage; a variable '
                                    'may only use other variables')
            if var not in raw:
                raise PipelineError(f'{where}: unknown variable {{{var}}} (variables: '
                                    f'{", ".join(sorted(raw))})')
            return get(var, stack + [name])
        done[name] = substitute(raw[name], lookup, f'variable {name!r}')
        return done[name]

    for name in raw:
        get(name, [])
    return done


def _parse_scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {'True': True, 'False': False, 'None': None}.get(text, text)


def load_pipeline(path: str, work_dir: Optional[str] = None, seed: Optional[int] = None,
                  options: Optional[Dict[str, Any]] = None,
                  shared: Optional[Dict[str, Stage]] = None, root: str = ROOT) -> Pipeline:
    """Read and resolve the pipeline config ``path``.

    Args:
        work_dir, seed: override the ``work_dir`` / ``seed`` variables.
        options: override other top-level variables (``{'data_root': ...}``);
            a name that is not a variable of the pipeline is an error.
        shared: stages taken over, already resolved, from another run of the
            pipeline (``tools/analysis/demo_seeds.py``): later stages see their
            fields (paths in that run's work dir); they are not run again.
    """
    if not osp.isfile(path):
        raise PipelineError(f'pipeline config not found: {path}')
    raw = Config.fromfile(path, import_custom_modules=False).to_dict()
    stages_raw = raw.get('stages')
    if not isinstance(stages_raw, dict) or not stages_raw:
        raise PipelineError(f'{path}: `stages` must be a non-empty dict of stages keyed by name')
    variables = {k: v for k, v in raw.items()
                 if k not in RESERVED and (v is None or isinstance(v, SCALARS))}
    variables.setdefault('work_dir', f'work_dirs/{osp.splitext(osp.basename(path))[0]}')
    for key, value in (options or {}).items():
        if key not in variables:
            raise PipelineError(f'--cfg-options {key}=...: {path} has no variable {key!r} '
                                f'(variables: {", ".join(sorted(variables))})')
        variables[key] = _parse_scalar(value) if isinstance(value, str) else value
    if work_dir is not None:
        variables['work_dir'] = work_dir
    if seed is not None:
        variables['seed'] = seed
    variables = resolve_variables(variables)

    names = list(stages_raw)
    stages: Dict[str, Stage] = {}
    for name in names:
        if shared and name in shared:
            stages[name] = Stage(**{**shared[name].__dict__, 'shared': True})
            continue
        stages[name] = _resolve_stage(name, stages_raw[name], variables, stages, names, root)
    results = raw.get('results') or {}
    for task, tests in results.items():
        for test in tests:
            if test not in stages or stages[test].type != 'test':
                raise PipelineError(f'results[{task!r}]: {test!r} is not a test stage '
                                    f'(stages: {", ".join(names)})')
    return Pipeline(path=path, root=root, variables=variables, stages=stages, results=results)


def _resolve_stage(name: str, raw: Any, variables: Dict[str, Any], done: Dict[str, Stage],
                   names: List[str], root: str) -> Stage:
    if not re.fullmatch(r'[A-Za-z_]\w*', name):
        raise PipelineError(f'stage name {name!r}: use letters, digits and underscores')
    if not isinstance(raw, dict) or raw.get('type') not in KINDS:
        got = raw.get('type') if isinstance(raw, dict) else raw
        raise PipelineError(f'stage {name!r}: type must be one of {list(KINDS)}, got {got!r}')

    deps: List[str] = []

    def lookup(var: str, fld: Optional[str], where: str) -> str:
        text = f'{{{var}.{fld}}}' if fld else f'{{{var}}}'
        if fld is None:
            if var in variables:
                return variables[var]
            what = (f'{var!r} is a stage: name one of its fields, {{{var}.FIELD}}'
                    if var in names else 'unknown variable '
                    f'(variables: {", ".join(sorted(variables))})')
            raise PipelineError(f'{where}: {text}: {what}')
        if var in done:
            if fld not in done[var].fields:
                raise PipelineError(f'{where}: {text}: stage {var!r} ({done[var].type}) has no '
                                    f'field {fld!r} (fields: {", ".join(done[var].fields)})')
            if var not in deps:
                deps.append(var)
            return done[var].fields[fld]
        if var in names:
            raise PipelineError(f'{where}: {text}: stage {var!r} runs later (stages may only '
                                'use the fields of earlier stages)')
        raise PipelineError(f'{where}: {text}: unknown stage {var!r} '
                            f'(stages: {", ".join(names)})')

    # `after`: earlier stages this one must wait for without using their fields
    # (e.g. the data generator), so that `--jobs N` orders them
    after = raw.get('after') or []
    if isinstance(after, str) or not all(isinstance(a, str) for a in after):
        raise PipelineError(f'stage {name!r}, field \'after\': a list of stage names, '
                            f'got {after!r}')
    for prior in after:
        if prior not in done:
            why = 'runs later' if prior in names else 'is not a stage'
            raise PipelineError(f'stage {name!r}, field \'after\': {prior!r} {why} '
                                f'(stages: {", ".join(names)})')
    kind = KINDS[raw['type']]
    spec = {k: substitute(v, lookup, f'stage {name!r}, field {k!r}')
            for k, v in raw.items() if k not in ('type', 'after')}
    if raw['type'] == 'train' and variables.get('seed') is not None:
        options = dict(spec.get('cfg_options') or {})
        options.setdefault('randomness.seed', variables['seed'])
        spec['cfg_options'] = options
    try:
        kind.check(name, spec)
        fields = kind.fields(name, spec, variables['work_dir'], root)
    except StageSpecError as e:
        raise PipelineError(str(e)) from e
    return Stage(name=name, type=raw['type'], spec=spec, fields=fields, deps=deps,
                 after=[a for a in after if a not in deps])
