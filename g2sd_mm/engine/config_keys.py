"""Misspelt top-level config keys that mmengine's Runner would ignore.

``Runner.from_cfg`` reads a fixed set of top-level keys and ignores every
other one, because configs legitimately hold variables (``data_root``,
``img_scale``, ``max_epochs`` ...). A misspelt key therefore changes the run
without a word: ``lod_from = 'student.pth'`` trains from scratch.

:func:`check_top_level_keys` refuses a top-level key that

* is not one of :data:`RUNNER_KEYS` (what ``Runner.from_cfg``, the Runner
  and ``tools/train.py`` / ``tools/test.py`` read),
* is a near miss of one of them: at most one edit (insertion, deletion,
  substitution or swap of neighbours) away from a key of up to 6 letters,
  at most two from a longer key, and
* is not used as a key anywhere inside the config (a variable such as
  ``data_root`` that also appears as ``dataset.data_root`` is kept).

Everything else passes, so config variables keep working; a variable that
is this close to a Runner key has to be renamed.
"""
from typing import Iterator, List, Optional

from mmengine.config import Config

__all__ = ['RUNNER_KEYS', 'check_top_level_keys', 'misspelt_top_level_keys']

RUNNER_KEYS = frozenset([
    # Runner.from_cfg
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader',
    'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor',
    'load_from', 'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'default_scope', 'randomness', 'experiment_name',
    # read by the Runner later, by mmengine's Config and by the tools
    'model_wrapper_cfg', 'find_unused_parameters', 'sync_bn', 'compile',
    'activation_checkpointing', 'efficient_conv_bn_eval', 'runner_type', 'custom_imports',
    '_base_',
])


def _distance(a: str, b: str) -> int:
    """Edit distance with swaps of neighbouring letters (optimal string alignment)."""
    prev2: List[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def closest_runner_key(key: str) -> Optional[str]:
    """The Runner key ``key`` is a near miss of (see the module docs), or ``None``."""
    best = None
    for known in sorted(RUNNER_KEYS):
        limit = 1 if len(known) <= 6 else 2
        dist = _distance(key, known)
        if 0 < dist <= limit and (best is None or dist < best[0]):
            best = (dist, known)
    return best[1] if best else None


def _nested_keys(value) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _nested_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _nested_keys(item)


def misspelt_top_level_keys(cfg: Config) -> List[tuple]:
    """``[(key, closest Runner key)]`` for the top-level keys refused by
    :func:`check_top_level_keys`."""
    top = [str(k) for k in cfg.keys()]
    nested = set()
    for key in top:
        nested.update(_nested_keys(cfg[key]))
    found = []
    for key in top:
        if key in RUNNER_KEYS or key in nested:
            continue
        close = closest_runner_key(key)
        if close is not None:
            found.append((key, close))
    return found


def check_top_level_keys(cfg: Config, source: str) -> None:
    """Raise ``ValueError`` naming ``source`` (the config file) for each
    misspelt top-level key (see the module docs)."""
    found = misspelt_top_level_keys(cfg)
    if found:
        keys = ', '.join(f'{key!r} (did you mean {close!r}?)' for key, close in found)
        raise ValueError(
            f'{source}: unknown top-level config key(s) {keys}. mmengine\'s Runner would '
            'ignore them. Fix the spelling; a config variable this close to a Runner key '
            'needs another name.')
