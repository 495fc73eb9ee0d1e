"""Kill-safe checkpoint writes: a SIGKILL in the middle of a write leaves the
previous file (and the previous checkpoint and ``last_checkpoint`` pointer) intact.

The kill lands mid-write deterministically: the child process writes half of the
data, flushes it to disk, announces it through a marker file and waits; the test
then SIGKILLs it. mmengine's own writers are the controls.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from g2sd_mm.checkpoint import atomic, atomic_write
from g2sd_mm.engine import AtomicLocalBackend

# Patches for the child processes: block half-way through writing a file named BLOCK,
# in atomic_write (its temporary file) and in mmengine's LocalBackend (the control).
BLOCKING = textwrap.dedent('''
    import os, sys, time
    import mmengine.fileio.backends.local_backend as local_backend
    from g2sd_mm.checkpoint import atomic

    BLOCK, MARKER = sys.argv[1], sys.argv[2]

    def stop_half_way(f, data):
        f.write(data[:len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        with open(MARKER + '.part', 'w') as m:
            m.write(f'{f.name}\\n{len(data)}\\n')
        os.replace(MARKER + '.part', MARKER)
        time.sleep(600)

    write_all = atomic._write_all
    atomic._write_all = lambda f, data: stop_half_way(f, data) if \\
        os.path.basename(f.name).startswith('.' + BLOCK + '.') else write_all(f, data)

    class _Blocking:
        def __init__(self, f):
            self.f, self.name = f, f.name
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.f.close()
        def write(self, data):
            stop_half_way(self.f, data)

    def _open(path, mode='r', *args, **kwargs):
        f = open(path, mode, *args, **kwargs)
        return _Blocking(f) if os.path.basename(str(path)) == BLOCK else f

    local_backend.open = _open
''')


def kill_mid_write(script, block, marker, *args, timeout=120):
    """Run ``BLOCKING + script`` and SIGKILL it once half of ``block`` is written."""
    proc = subprocess.Popen([sys.executable, '-c', BLOCKING + script, block, str(marker), *args],
                            env=dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1'),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + timeout
    try:
        while not marker.exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[0][-3000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    tmp, size = marker.read_text().split()
    return tmp, int(size)


def test_atomic_write_replaces_with_the_usual_mode(tmp_path):
    path = tmp_path / 'sub' / 'f.bin'
    atomic_write(path, b'one')
    atomic_write(path, 'two')
    assert path.read_bytes() == b'two'
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(os.listdir(path.parent)) == ['f.bin']  # no temporary file left


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'f.bin'
    path.write_bytes(b'old')

    def fail(f, data):
        f.write(data[:2])
        raise OSError('disk full')
    monkeypatch.setattr(atomic, '_write_all', fail)
    with pytest.raises(OSError, match='disk full'):
        AtomicLocalBackend().put(b'new data', path)
    assert path.read_bytes() == b'old' and os.listdir(tmp_path) == ['f.bin']


@pytest.mark.parametrize('backend,method', [
    ('atomic_local', 'put'),       # checkpoints
    ('atomic_local', 'put_text'),  # text files such as last_checkpoint
    ('local', 'put'),              # control: mmengine's LocalBackend
])
def test_sigkill_mid_write_keeps_the_old_file(tmp_path, backend, method):
    path = tmp_path / 'data.pth'
    old = b'old complete content'
    path.write_bytes(old)
    payload = "b'x' * (8 << 20)" if method == 'put' else "'y' * (8 << 20)"
    script = textwrap.dedent(f'''
        from mmengine.fileio import get_file_backend
        get_file_backend(sys.argv[3], backend_args=dict(backend='{backend}')).{method}(
            {payload}, sys.argv[3])
    ''')
    tmp, size = kill_mid_write(script, 'data.pth', tmp_path / 'marker', str(path))
    if backend == 'local':  # control: mmengine's writer leaves a truncated file
        assert path.stat().st_size == size // 2
        return
    assert path.read_bytes() == old
    assert os.path.dirname(tmp) == str(tmp_path) and os.path.getsize(tmp) == size // 2


# A toy training run that checkpoints every 2 iterations and keeps 1 checkpoint.
TOY_RUN = textwrap.dedent('''
    import sys
    import torch
    import torch.nn as nn
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    import g2sd_mm

    class Toy(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1)
        def forward(self, inputs, data_samples=None, mode='tensor'):
            return dict(loss=self.fc(torch.stack(inputs)).pow(2).mean())

    torch.manual_seed(0)
    data = [dict(inputs=torch.randn(2)) for _ in range(8)]
    Runner(model=Toy(), work_dir=sys.argv[3], experiment_name='toy',
           train_dataloader=dict(dataset=data, batch_size=2, num_workers=0,
                                 sampler=dict(type='InfiniteSampler')),
           train_cfg=dict(type='ExactResumeIterBasedTrainLoop', max_iters=6),
           optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
           default_hooks=dict(checkpoint=dict(type=sys.argv[4], by_epoch=False, interval=2,
                                              max_keep_ckpts=1)),
           custom_hooks=[dict(type='RandomStateHook')], resume=len(sys.argv) > 5,
           randomness=dict(seed=0), default_scope='mmengine').train()
''')


@pytest.mark.slow
@pytest.mark.parametrize('hook', ['AtomicCheckpointHook', 'CheckpointHook'])
def test_training_killed_while_checkpointing_resumes_from_the_last_complete_one(tmp_path, hook):
    work = tmp_path / 'work'
    tmp, size = kill_mid_write(TOY_RUN, 'iter_4.pth', tmp_path / 'marker', str(work), hook)
    pointer = (work / 'last_checkpoint').read_text()
    if hook == 'CheckpointHook':
        # control: mmengine deleted iter_2.pth before writing iter_4.pth, which is truncated
        assert not (work / 'iter_2.pth').exists() and pointer == str(work / 'iter_2.pth')
        assert (work / 'iter_4.pth').stat().st_size == size // 2
        return
    assert pointer == str(work / 'iter_2.pth')
    assert not (work / 'iter_4.pth').exists()  # nothing truncated under the final name
    assert os.path.getsize(tmp) == size // 2 and os.path.basename(tmp).startswith('.iter_4.pth.')
    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 2 and 'random_states' in ckpt
    # automatic resume (last_checkpoint) continues from iter_2.pth and finishes
    out = subprocess.run([sys.executable, '-c', TOY_RUN, 'none', 'none', str(work), hook,
                          'resume'], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert f'Auto resumed from the latest checkpoint {work / "iter_2.pth"}' in log
    assert 'resumed epoch: 0, iter: 2' in log
    assert not os.path.exists(tmp) and 'Removed 1 stale temporary file(s)' in log
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_6.pth')
    assert sorted(p.name for p in work.glob('iter_*.pth')) == ['iter_6.pth']  # max_keep_ckpts
