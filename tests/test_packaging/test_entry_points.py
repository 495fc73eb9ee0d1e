"""Version checks, the tool entry points and launch-config helpers."""
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from g2sd_mm import cli
from g2sd_mm.engine.launch import drop_collate_fn_scope
from g2sd_mm.version import TESTED_VERSIONS, check_versions, version_problems

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_this_stack_is_in_the_tested_ranges():
    assert version_problems() == []
    check_versions()


def test_out_of_range_and_missing_packages_are_named():
    versions = {dist: low for dist, (low, _) in TESTED_VERSIONS.items()}
    versions.update(mmcv='2.2.0', mmdet='3.2.0')
    del versions['mmsegmentation']
    problems = version_problems(versions)
    assert problems == [
        'mmcv==2.2.0 is installed, g2sd_mm 0.1.0 is tested with mmcv>=2.1.0,<2.2.0',
        'mmdet==3.2.0 is installed, g2sd_mm 0.1.0 is tested with mmdet>=3.3.0,<3.4.0',
        'mmsegmentation is not installed (g2sd_mm needs mmsegmentation>=1.2.2,<1.3.0)']


def test_release_candidates_compare_as_older():
    versions = {dist: low for dist, (low, _) in TESTED_VERSIONS.items()}
    versions['mmengine'] = '0.10.7rc0'
    assert version_problems(versions) == [
        'mmengine==0.10.7rc0 is installed, g2sd_mm 0.1.0 is tested with '
        'mmengine>=0.10.7,<0.11.0']


def test_tools_by_path_and_by_name():
    tools = osp.realpath(osp.join(ROOT, 'tools'))
    assert osp.realpath(cli.tool_path('train.py')) == osp.join(tools, 'train.py')
    assert osp.realpath(cli.tool_path('extract_student')) == osp.join(
        tools, 'model_converters', 'extract_student.py')
    assert 'model_converters/mae_convert.py' in cli.list_tools()
    with pytest.raises(SystemExit, match=r"no tool 'extract_studnet' in .*tools: .*train.py"):
        cli.tool_path('extract_studnet')


def test_python_m_g2sd_mm_runs_a_shipped_tool():
    proc = subprocess.run([sys.executable, '-m', 'g2sd_mm', 'g2sd_gd_export', '--help'],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'out_prefix' in proc.stdout


def test_dist_train_needs_config_and_process_count():
    with pytest.raises(SystemExit, match='usage: g2sd-dist-train CONFIG NPROC'):
        cli.dist_train(['cfg.py'])


def test_collate_fn_scope_is_dropped():
    cfg = Config(dict(train_dataloader=dict(collate_fn=dict(type='default_collate',
                                                            _scope_='g2sd_mm')),
                      val_dataloader=None))
    drop_collate_fn_scope(cfg)
    assert cfg.train_dataloader.collate_fn == dict(type='default_collate')
