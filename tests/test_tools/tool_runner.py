"""Run the repository's tools in a subprocess, as a user would, for the pipeline tests."""
import os
import os.path as osp
import subprocess

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run(args, timeout=900, env=None, single_thread=False):
    """Run ``args`` in the repo root; return stdout + stderr, raise with the log on failure.

    ``single_thread`` sets ``OMP_NUM_THREADS=1`` unless the environment sets it:
    for tiny models, spinning thread pools on a shared CPU cost more than they gain.
    """
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    if single_thread:
        full_env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=full_env)
    if proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-5000:]}')
    return proc.stdout + proc.stderr
