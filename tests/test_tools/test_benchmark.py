"""tools/analysis/benchmark.py and gpu_benchmark.sh on tiny models (CPU, seconds)."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
GPU_SCRIPT = osp.join(ROOT, 'tools', 'analysis', 'gpu_benchmark.sh')
DEMO = {
    'gd': ('configs/pretrain/g2sd_vit-tiny-p8_gd_1xb32-8e_shapes.py', 32),
    'cls': ('configs/cls/g2sd_vit-32d_cls_1xb32-10e_shapes.py', 32),
    'det': ('configs/det/g2sd_vit-32d_mask-rcnn_1xb2-300it_shapes.py', 64),
    'seg': ('configs/seg/g2sd_vit-32d_upernet_1xb4-400it_shapes.py', 64),
}
KEYS = ('distill_ms', 'student_ms', 'teacher_ms', 'overhead', 'img_per_s', 'peak_mem_mb',
        'dtype', 'device', 'batch', 'img_size', 'teacher_gflop_per_img',
        'student_gflop_per_img', 'distill_gflop_per_img', 'achieved_tflops',
        'matmul_peak_tflops', 'peak_fraction')


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'g2sd_benchmark_tool', osp.join(ROOT, 'tools', 'analysis', 'benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool():
    return load_tool()


@pytest.mark.parametrize('stage', ['gd', 'cls', 'seg', 'det'])
def test_benchmark_reports_every_part(tool, stage):
    config, size = DEMO[stage]
    result = tool.benchmark(tool.parse_args([
        '--stage', stage, '--config', config, '--img-size', str(size), '--batch', '2',
        '--warmup', '0', '--iters', '1', '--device', 'cpu', '--threads', '1']))
    for key in KEYS:
        assert key in result, key
    assert result['stage'] == stage and result['img_size'] == size
    expected = result['distill_ms'] / (result['student_ms'] + result['teacher_ms'])
    assert result['overhead'] == pytest.approx(expected, rel=0.01, abs=0.002)
    assert result['img_per_s'] == pytest.approx(2 / (result['distill_ms'] / 1e3), rel=0.01)
    # the distillation step does the student's and the teacher's work (and no more
    # than a few percent beyond: adapters and the distillation loss)
    parts = result['student_gflop_per_img'] + result['teacher_gflop_per_img']
    assert parts * 0.999 <= result['distill_gflop_per_img'] <= parts * 1.15 + 1e-3
    assert 0 < result['peak_fraction'] and result['teacher_autocast'] == 'None'
    json.dumps(result)  # one JSON line


def test_benchmark_bf16_and_cfg_options(tool):
    config, size = DEMO['cls']
    result = tool.benchmark(tool.parse_args([
        '--stage', 'cls', '--config', config, '--img-size', str(size), '--batch', '2',
        '--warmup', '0', '--iters', '1', '--device', 'cpu', '--threads', '1', '--dtype', 'bf16',
        '--no-flops', '--cfg-options', 'model.teacher_autocast=bfloat16']))
    assert result['dtype'] == 'bf16' and result['teacher_autocast'] == 'bfloat16'
    assert 'peak_fraction' not in result and result['overhead'] > 0


def test_benchmark_cli_prints_one_json_line():
    config, size = DEMO['gd']
    proc = subprocess.run(
        [sys.executable, 'tools/analysis/benchmark.py', '--stage', 'gd', '--config', config,
         '--img-size', str(size), '--batch', '2', '--warmup', '0', '--iters', '1', '--no-flops',
         '--threads', '1'],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['stage'] == 'gd' and result['student_ms'] > 0


def test_gpu_benchmark_arguments():
    dry = subprocess.run(['bash', GPU_SCRIPT, '--dry-run', '--device', 'cpu', '--img-size', '64',
                          '--batch', '1', '--iters', '1', '--stages', 'gd seg'],
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.strip().splitlines()
    assert len(lines) == 2
    for stage, batch, line in zip(('gd', 'seg'), (1, 2), lines):
        assert f'--stage {stage} --device cpu --dtype bf16 --batch {batch}' in line
        assert line.endswith('--img-size 64') and '--iters 1' in line
    recipe = subprocess.run(['bash', GPU_SCRIPT, '--dry-run'], capture_output=True, text=True,
                            timeout=60)
    assert [line.split('--batch ')[1].split()[0] for line in recipe.stdout.splitlines()] == \
        ['512', '128', '8', '2']
    for bad in (['--stages', 'gd foo'], ['--bogus']):
        proc = subprocess.run(['bash', GPU_SCRIPT, *bad], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2 and 'gpu_benchmark.sh: unknown' in proc.stderr


@pytest.mark.slow
def test_gpu_benchmark_runs_on_cpu_at_reduced_size(tmp_path):
    proc = subprocess.run(
        ['bash', GPU_SCRIPT, '--device', 'cpu', '--dtype', 'fp32', '--img-size', '32',
         '--batch', '1', '--warmup', '0', '--iters', '1', '--stages', 'gd cls',
         '--out', str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
        env=dict(os.environ, PYTHONWARNINGS='ignore', PYTHON=sys.executable,
                 OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = [line for line in proc.stdout.splitlines() if line.startswith('| ')]
    assert table[0].startswith('| stage | batch | img | img/s')
    assert [row.split('|')[1].strip() for row in table[1:]] == ['gd', 'cls']
    for stage in ('gd', 'cls'):
        result = json.load(open(tmp_path / f'{stage}.json'))
        assert result['dtype'] == 'fp32' and result['img_size'] == 32


def test_cost_model_table():
    spec = importlib.util.spec_from_file_location(
        'g2sd_cost_model', osp.join(ROOT, 'tools', 'analysis', 'cost_model.py'))
    cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cost)
    config, size = DEMO['seg']
    args = cost.parse_args(['--stages', 'seg', '--config', config, '--img-size', str(size),
                            '--utilisation', '0.5', '--peak-tflops', '100'])
    row = cost.stage_cost(cost._benchmark_tool(), 'seg', args)
    assert row['images'] == 160_000 * 16 and row['img_size'] == size
    assert row['teacher_gflop_per_img'] > 0 and row['student_gflop_per_img'] > 0
    flop = row['distill_gflop_per_img'] * 1e9 * row['images']
    assert row['gpu_hours'] == pytest.approx(flop / (0.5 * 100e12) / 3600, rel=0.01, abs=0.05)
