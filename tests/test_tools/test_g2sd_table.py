import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import g2sd_table  # noqa: E402


def _write(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def test_percentages_from_crafted_metric_files(tmp_path, capsys):
    det = [_write(tmp_path / f'det_{n}.json', {'coco/bbox_mAP': b, 'coco/segm_mAP': s})
           for n, b, s in [('t', 0.516, 0.459), ('b', 0.480, 0.420), ('g', 0.506, 0.450)]]
    seg = [_write(tmp_path / f'seg_{n}.json', {'mIoU': v, 'aAcc': 80.0})
           for n, v in [('t', 48.1, ), ('b', 45.0), ('g', 47.76)]]
    out = tmp_path / 'table.md'
    assert g2sd_table.main(['--det', *det, '--seg', *seg, '--out', str(out)]) == 0
    table = capsys.readouterr().out
    assert table == out.read_text()
    rows = [r for r in table.splitlines() if r.startswith('| detection') or
            r.startswith('| segmentation')]
    assert rows[0] == ('| detection | box AP | 51.6 | 48.0 (93.0%) | 50.6 (98.1%) | 98.1% |')
    assert rows[1] == ('| detection | mask AP | 45.9 | 42.0 (91.5%) | 45.0 (98.0%) | 98.0% |')
    assert rows[2] == ('| segmentation | mIoU | 48.1 | 45.0 (93.6%) | 47.8 (99.3%) | 99.3% |')


def test_missing_and_bad_files_are_named(tmp_path):
    good = _write(tmp_path / 'good.json', {'accuracy/top1': 80.0})
    missing = str(tmp_path / 'nope.json')
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools/analysis/g2sd_table.py'),
                           '--cls', good, missing, good], capture_output=True, text=True)
    assert proc.returncode == 2 and f'result file not found: {missing}' in proc.stderr
    broken = tmp_path / 'broken.json'
    broken.write_text('{"accuracy/top1": ')
    with pytest.raises(g2sd_table.ResultFileError, match='broken.json'):
        g2sd_table.build_rows({'cls': [good, str(broken), good]})
    other = _write(tmp_path / 'other.json', {'mIoU': 40.0})
    with pytest.raises(g2sd_table.ResultFileError, match="other.json: no 'accuracy/top1'"):
        g2sd_table.build_rows({'cls': [good, good, other]})


@pytest.mark.parametrize('value', [float('nan'), float('inf')])
def test_non_finite_metric_is_an_error_naming_file_and_key(tmp_path, value):
    """``tools/test.py`` writes a NaN metric as ``NaN``, which ``json`` reads back."""
    good = _write(tmp_path / 'good.json', {'accuracy/top1': 80.0})
    bad = _write(tmp_path / 'bad.json', {'accuracy/top1': value})
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools/analysis/g2sd_table.py'),
                           '--cls', good, bad, good], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout
    assert f"{bad}: metric 'accuracy/top1' is {value!r}, not a finite number" in proc.stderr
    assert proc.stdout == ''
