"""Every training config resumes exactly and writes kill-safe checkpoints."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import HOOKS, LOOPS

import g2sd_mm  # noqa: F401  (registers the components)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(p for d in ('configs/pretrain', 'configs/cls', 'configs/det', 'configs/seg',
                              'tests/configs')
                 for p in glob.glob(osp.join(ROOT, d, '*.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_uses_exact_resume_and_atomic_checkpoints(path):
    cfg = Config.fromfile(path)
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert 'backend_args' not in cfg.default_hooks.checkpoint  # the atomic backend by default
    assert [h['type'] for h in cfg.custom_hooks].count('RandomStateHook') == 1
    loop = cfg.train_cfg
    expected = 'ExactResumeEpochBasedTrainLoop' if 'max_epochs' in loop else \
        'ExactResumeIterBasedTrainLoop'
    assert loop.type == expected and 'by_epoch' not in loop
    assert HOOKS.get(cfg.default_hooks.checkpoint.type) and HOOKS.get('RandomStateHook')
    assert LOOPS.get(loop.type)
