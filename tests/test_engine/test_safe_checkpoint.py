import os
import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from g2sd_mm.engine import CheckpointError, load_checkpoint_file


class _WritesFile:
    """Unpickling this object would run ``open(path, 'w')``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


class _SneakyGetattr:
    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


def test_mmengine_state_round_trips_with_weights_only(tmp_path):
    buf = HistoryBuffer()
    buf.update(1.5)
    buf.update(2.5)
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(2)), message_hub=dict(log_scalars=dict(loss=buf))),
               path)
    for loaded in (load_checkpoint_file(str(path)), _load_checkpoint(str(path))):
        restored = loaded['message_hub']['log_scalars']['loss']
        assert restored.mean() == pytest.approx(2.0)
        assert restored.current() == pytest.approx(2.5)


@pytest.mark.parametrize('loader', ['g2sd_mm', 'mmengine'])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, loader):
    victim = tmp_path / 'pwned.txt'
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(1)), meta=_WritesFile(str(victim))), path)
    if loader == 'g2sd_mm':
        with pytest.raises(CheckpointError, match='evil.pth.*trust_pickle'):
            load_checkpoint_file(str(path))
    else:  # the path mmengine's resume takes
        with pytest.raises(pickle.UnpicklingError):
            _load_checkpoint(str(path))
    assert not victim.exists()


def test_getattr_in_checkpoints_is_limited_to_history_buffer(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save(dict(x=_SneakyGetattr()), path)
    with pytest.raises(CheckpointError, match='refusing getattr'):
        load_checkpoint_file(str(path))


def test_trusted_pickle_loads_only_when_asked(tmp_path):
    victim = tmp_path / 'created.txt'
    path = tmp_path / 'trusted.pth'
    torch.save(dict(meta=_WritesFile(str(victim))), path)
    load_checkpoint_file(str(path), trust_pickle=True)
    assert victim.exists()


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))
    path = tmp_path / 'cut.pth'
    torch.save(dict(w=torch.randn(1000)), path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match='cut.pth.*truncated'):
        load_checkpoint_file(str(path))
    assert os.path.exists(path)
