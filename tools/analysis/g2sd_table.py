"""Teacher-retention table from the metric files written by ``tools/test.py``.

    python tools/analysis/g2sd_table.py \
        --det TEACHER.json BASELINE.json G2SD.json \
        --seg TEACHER.json BASELINE.json G2SD.json \
        --cls TEACHER.json BASELINE.json G2SD.json [--out table.md] [--note TEXT]

Each task takes three JSON files (teacher, student-only baseline, G2SD student)
as written by ``tools/test.py`` (``WORK_DIR/metrics.json``). Prints a Markdown
table with the absolute numbers and the share of the teacher each student
keeps; ``--note`` adds a line above it (e.g. that the numbers come from a
smoke-test schedule). A missing or unreadable file, a file without the task's metric, or a
metric that is not a finite number (``NaN``, ``Infinity``) is an error that
names the file and the key.
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
from typing import Dict, List, Sequence, Tuple

# task -> [(metric key in the file, label, scale to percent)]
TASK_METRICS: Dict[str, List[Tuple[str, str, float]]] = {
    'cls': [('accuracy/top1', 'top-1 (%)', 1.0)],
    'det': [('coco/bbox_mAP', 'box AP', 100.0), ('coco/segm_mAP', 'mask AP', 100.0)],
    'seg': [('mIoU', 'mIoU', 1.0)],
}
TASK_NAMES = {'cls': 'classification', 'det': 'detection', 'seg': 'segmentation'}


class ResultFileError(Exception):
    """A result file is missing, unreadable or lacks a metric."""


def read_metrics(path: str) -> Dict[str, float]:
    if not osp.isfile(path):
        raise ResultFileError(f'result file not found: {path}')
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ResultFileError(f'cannot read result file {path}: {e}') from e
    if not isinstance(data, dict):
        raise ResultFileError(f'{path}: expected a JSON object of metrics')
    return data


def metric(data: Dict[str, float], key: str, path: str) -> float:
    if key not in data:
        raise ResultFileError(f'{path}: no {key!r} metric (found: {sorted(data)[:8]})')
    try:
        value = float(data[key])
    except (TypeError, ValueError) as e:
        raise ResultFileError(f'{path}: metric {key!r} is not a number: {data[key]!r}') from e
    if not math.isfinite(value):
        raise ResultFileError(f'{path}: metric {key!r} is {data[key]!r}, not a finite number '
                              '(did the evaluation see non-finite model outputs?)')
    return value


def build_rows(tasks: Dict[str, Sequence[str]]) -> List[List[str]]:
    """One row per metric: task, metric, teacher, baseline, G2SD, retention."""
    rows = []
    for task, files in tasks.items():
        teacher_f, base_f, g2sd_f = files
        data = [read_metrics(p) for p in files]
        for key, label, scale in TASK_METRICS[task]:
            t, b, g = (metric(d, key, p) * scale for d, p in zip(data, files))

            def keep(v, t=t):
                return f'{100.0 * v / t:.1f}%' if t > 0 else 'n/a'
            rows.append([TASK_NAMES[task], label, f'{t:.1f}', f'{b:.1f} ({keep(b)})',
                         f'{g:.1f} ({keep(g)})', keep(g)])
    return rows


def markdown(rows: List[List[str]]) -> str:
    header = ['task', 'metric', 'teacher', 'student only (kept)', 'G2SD student (kept)',
              'G2SD / teacher']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description='G2SD teacher-retention table')
    for task in TASK_METRICS:
        parser.add_argument(f'--{task}', nargs=3, metavar=('TEACHER', 'BASELINE', 'G2SD'),
                            help=f'{TASK_NAMES[task]} metric files')
    parser.add_argument('--out', help='also write the table to this file')
    parser.add_argument('--note', default='', help='a line printed above the table')
    args = parser.parse_args(argv)
    tasks = {t: getattr(args, t) for t in TASK_METRICS if getattr(args, t)}
    if not tasks:
        parser.error('give at least one of --cls, --det, --seg')
    try:
        table = markdown(build_rows(tasks))
        if args.note:
            table = f'{args.note}\n\n{table}'
    except ResultFileError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(table, end='')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
