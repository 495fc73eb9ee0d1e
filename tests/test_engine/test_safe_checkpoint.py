import os
import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from g2sd_mm.checkpoint import CheckpointError, UnsafeCheckpointError, load_checkpoint_file


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


# ------------------------------------------------ every reader of weights
def _evil(tmp_path, content, name='evil.pth'):
    """``content`` plus an object whose unpickling would create ``pwned.txt``."""
    victim = tmp_path / 'pwned.txt'
    path = tmp_path / name
    torch.save(dict(content, meta=_WritesFile(str(victim))), path)
    return str(path), victim


def test_torch_default_alone_is_not_enough(tmp_path, monkeypatch):
    """What mmengine's own local loader relied on: torch's default, which an
    environment variable turns off (the reason g2sd_mm replaces it)."""
    path, victim = _evil(tmp_path, {})
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    torch.load(path)
    assert victim.exists()


def test_mmengine_loads_go_through_the_safe_loader(tmp_path, monkeypatch):
    """resume / load_from (``_load_checkpoint``), ``load_checkpoint`` and the
    ``Pretrained`` init of stock modules all refuse pickled code, even with
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` set."""
    from mmengine.model import BaseModule
    from mmengine.runner import load_checkpoint

    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    path, victim = _evil(tmp_path, dict(state_dict=dict(weight=torch.ones(2, 2),
                                                        bias=torch.ones(2))))

    class Stock(BaseModule):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.fc = torch.nn.Linear(2, 2)

    for load in (lambda: _load_checkpoint(path),
                 lambda: load_checkpoint(Stock().fc, path),
                 lambda: Stock(init_cfg=dict(type='Pretrained', checkpoint=path,
                                             prefix='')).init_weights()):
        with pytest.raises(UnsafeCheckpointError, match='evil.pth: refused to unpickle'):
            load()
    assert not victim.exists()


def _tiny_mae_state():
    from g2sd_mm.models import MaskedAutoencoderViT
    torch.manual_seed(0)
    return MaskedAutoencoderViT(dict(embed_dim=16, depth=1, num_heads=2), img_size=32,
                                patch_size=16, decoder_embed_dim=8, decoder_depth=1,
                                decoder_num_heads=2).state_dict()


def _readers():
    from g2sd_mm.checkpoint import (check_checkpoint_fits, extract_student_state,
                                    load_mae_checkpoint, load_state_dict_strict,
                                    student_encoder_state)
    from g2sd_mm.models import MaskedAutoencoderViT, ViTDet
    mae = dict(arch=dict(embed_dim=16, depth=1, num_heads=2), img_size=32, patch_size=16,
               decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2)
    vitdet = dict(arch=dict(embed_dim=16, depth=1, num_heads=2), img_size=32,
                  pretrain_img_size=32, window_size=2, global_attn_indexes=(0,))
    return {
        'teacher_ckpt (MAE)': lambda p: load_mae_checkpoint(MaskedAutoencoderViT(**mae), p,
                                                            role='teacher'),
        'teacher_ckpt (det/seg)': lambda p: load_state_dict_strict(torch.nn.Linear(2, 2), p),
        'backbone init_cfg': lambda p: ViTDet(**vitdet, init_cfg=dict(
            type='Pretrained', checkpoint=p)).init_weights(),
        'stage-1 export': student_encoder_state,
        'student extraction': extract_student_state,
        'tools/test.py check': lambda p: check_checkpoint_fits(torch.nn.Linear(2, 2), p),
    }


@pytest.mark.parametrize('reader', list(_readers()))
def test_weight_readers_refuse_pickled_code(tmp_path, monkeypatch, reader):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    path, victim = _evil(tmp_path, dict(model=_tiny_mae_state()))
    with pytest.raises(CheckpointError, match='evil.pth: refused to unpickle'):
        _readers()[reader](path)
    assert not victim.exists()


CONVERTERS = {
    'mae_convert.py': lambda src, dst: [src, dst, '--to', 'mmpretrain'],
    'g2sd_gd_export.py': lambda src, dst: [src, dst],
    'extract_student.py': lambda src, dst: [src, dst],
}


@pytest.mark.parametrize('script', list(CONVERTERS))
def test_converters_refuse_pickled_code_unless_trusted(tmp_path, monkeypatch, script):
    import runpy
    import sys
    state = _tiny_mae_state()
    if script == 'extract_student.py':
        state = {'student.' + k: v for k, v in state.items()}
    path, victim = _evil(tmp_path, dict(state_dict=state))
    tool = os.path.join(os.path.dirname(__file__), '..', '..', 'tools', 'model_converters',
                        script)
    out = str(tmp_path / 'out.pth')
    monkeypatch.setattr(sys, 'argv', [script] + CONVERTERS[script](path, out))
    with pytest.raises(CheckpointError, match='evil.pth: refused to unpickle.*--trust-pickle'):
        runpy.run_path(tool, run_name='__main__')
    assert not victim.exists()
    assert not any(n.startswith('out') for n in os.listdir(tmp_path))

    monkeypatch.setattr(sys, 'argv', sys.argv + ['--trust-pickle'])
    runpy.run_path(tool, run_name='__main__')
    assert victim.exists()  # the user vouched for the file
    assert any(n.startswith('out') for n in os.listdir(tmp_path))
