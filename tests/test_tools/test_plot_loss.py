"""tools/analysis/plot_loss.py on damaged ``scalars.json`` files."""
import json
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import plot_loss  # noqa: E402


def _scalars(work_dir, lines):
    path = work_dir / '20260101_000000' / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def _rec(it, loss):
    return json.dumps({'lr': 1e-3, 'loss': loss, 'iter': it})


def test_reads_training_records(tmp_path):
    _scalars(tmp_path, [_rec(1, 0.5), json.dumps({'accuracy/top1': 3.0, 'step': 1}),
                        _rec(2, 0.25)])
    assert plot_loss.read_scalars(str(tmp_path), 'loss') == ([1, 2], [0.5, 0.25])


def test_truncated_line_names_the_file_and_line(tmp_path, capsys):
    path = _scalars(tmp_path, [_rec(1, 0.5), _rec(2, 0.4)[:-9]])
    code = plot_loss.main([str(tmp_path), '--out', str(tmp_path / 'curves.png')])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {path}, line 2: not valid JSON (')
    assert not (tmp_path / 'curves.png').exists()


def test_value_that_is_not_a_number_names_the_key(tmp_path, capsys):
    path = _scalars(tmp_path, [_rec(1, 0.5), _rec(2, 'nan?')])
    code = plot_loss.main([str(tmp_path), '--out', str(tmp_path / 'curves.png')])
    assert code == 2
    assert f"error: {path}, line 2: 'loss' is not a number: 'nan?'" in capsys.readouterr().err
