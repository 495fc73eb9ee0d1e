"""The converters write their outputs atomically: a write that fails half-way
(disk full) leaves the previous output intact and no temporary file behind."""
import errno
import io
import os
import os.path as osp
import runpy
import sys

import pytest
import torch

from g2sd_mm.checkpoint import atomic_save
from g2sd_mm.models import MaskedAutoencoderViT

TOOLS = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'model_converters')


def _mae_state():
    torch.manual_seed(0)
    return MaskedAutoencoderViT(dict(embed_dim=16, depth=1, num_heads=2), img_size=32,
                                patch_size=16, decoder_embed_dim=8, decoder_depth=1,
                                decoder_num_heads=2).state_dict()


def _disk_full_after_half(monkeypatch):
    """``torch.save`` writes half of its bytes into the file (object or path),
    then fails."""
    save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        buffer = io.BytesIO()
        save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        if isinstance(f, (str, os.PathLike)):
            with open(f, 'wb') as file:
                file.write(data[:len(data) // 2])
        else:
            f.write(data[:len(data) // 2])
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(torch, 'save', failing_save)


def test_atomic_save_replaces_or_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'out.pth'
    atomic_save({'w': torch.ones(3)}, path)
    torch.testing.assert_close(torch.load(path)['w'], torch.ones(3))
    old = path.read_bytes()
    _disk_full_after_half(monkeypatch)
    with pytest.raises(OSError, match='No space left'):
        atomic_save({'w': torch.zeros(1000)}, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ['out.pth']


CONVERTERS = {
    'mae_convert.py': (lambda src, out: [src, out + '.pth', '--to', 'mmpretrain'],
                       lambda state: dict(model=state), ['out.pth']),
    'g2sd_gd_export.py': (lambda src, out: [src, out],
                          lambda state: dict(state_dict={'student.' + k: v
                                                         for k, v in state.items()}),
                          ['out_backbone.pth', 'out_timm.pth']),
    'extract_student.py': (lambda src, out: [src, out + '.pth'],
                           lambda state: dict(state_dict={'student.' + k: v
                                                          for k, v in state.items()}),
                           ['out.pth']),
}


@pytest.mark.parametrize('script', list(CONVERTERS))
def test_failed_converter_write_keeps_the_previous_output(tmp_path, monkeypatch, script):
    argv, content, outputs = CONVERTERS[script]
    src = str(tmp_path / 'in.pth')
    torch.save(content(_mae_state()), src)
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    monkeypatch.setattr(sys, 'argv', [script] + argv(src, str(out_dir / 'out')))
    tool = osp.join(TOOLS, script)
    runpy.run_path(tool, run_name='__main__')  # the previous, good outputs
    before = {name: (out_dir / name).read_bytes() for name in outputs}
    assert sorted(os.listdir(out_dir)) == sorted(outputs)

    torch.save(content({k: v + 1 for k, v in _mae_state().items()}), src)  # new weights
    _disk_full_after_half(monkeypatch)
    with pytest.raises(OSError, match='No space left'):
        runpy.run_path(tool, run_name='__main__')
    assert sorted(os.listdir(out_dir)) == sorted(outputs)  # no temporary file left
    for name in outputs:
        assert (out_dir / name).read_bytes() == before[name], name
