"""Plot training losses from mmengine work dirs (``vis_data/scalars.json``).

    python tools/analysis/plot_loss.py WORK_DIR [WORK_DIR ...] --out curves.png
        [--keys loss] [--labels A B]

Each work dir becomes one panel; runs resumed into the same work dir are
concatenated by iteration. Prints the first and last value of every curve.
A line of a ``scalars.json`` that is not valid JSON, or a value that is not a
number, is an error naming the file, the line and the key.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, Iterator, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


class ScalarsFileError(ValueError):
    """A ``scalars.json`` line is not a JSON object, or a value is not a number;
    the message names the file, the line and the key."""


def _records(path: str) -> Iterator[Tuple[int, Dict]]:
    """``(line number, JSON object)`` of each line of ``path`` (blank lines skipped)."""
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise ScalarsFileError(f'{path}, line {lineno}: not valid JSON ({e}); '
                                       'a run killed while logging leaves such a line') from e
            if not isinstance(rec, dict):
                raise ScalarsFileError(f'{path}, line {lineno}: expected a JSON object, got '
                                       f'{type(rec).__name__}')
            yield lineno, rec


def _number(value, path: str, lineno: int, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScalarsFileError(f'{path}, line {lineno}: {key!r} is not a number: {value!r}')
    return float(value)


def read_scalars(work_dir: str, key: str):
    """(iterations, values) of ``key`` over every run logged in ``work_dir``."""
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'work dir not found: {work_dir}')
    points = {}
    for run in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, run, 'vis_data', 'scalars.json')
        if not osp.isfile(path):
            continue
        for lineno, rec in _records(path):
            if key in rec and 'iter' in rec and 'lr' in rec:  # training records
                points[rec['iter']] = _number(rec[key], path, lineno, key)
    if not points:
        raise ValueError(f'no training records with {key!r} under {work_dir}/*/vis_data/'
                         'scalars.json')
    iters = sorted(points)
    return iters, [points[i] for i in iters]


def main(argv=None):
    parser = argparse.ArgumentParser(description='plot training losses')
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--out', required=True, help='PNG file')
    parser.add_argument('--keys', nargs='+', default=['loss'])
    parser.add_argument('--labels', nargs='+')
    parser.add_argument('--cols', type=int, default=4, help='panels per row')
    args = parser.parse_args(argv)
    labels = args.labels or [osp.basename(osp.normpath(d)) for d in args.work_dirs]
    cols = max(1, min(args.cols, len(args.work_dirs)))
    rows = -(-len(args.work_dirs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(args.work_dirs):]:
        ax.set_visible(False)
    for ax, work_dir, label in zip(axes.flat, args.work_dirs, labels):
        for key in args.keys:
            try:
                iters, values = read_scalars(work_dir, key)
            except (OSError, ValueError) as e:
                print(f'error: {e}', file=sys.stderr)
                return 2
            ax.plot(iters, values, label=key)
            print(f'{label}: {key} {values[0]:.4f} (iter {iters[0]}) -> {values[-1]:.4f} '
                  f'(iter {iters[-1]})')
        ax.set_title(label)
        ax.set_xlabel('iteration')
        ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
