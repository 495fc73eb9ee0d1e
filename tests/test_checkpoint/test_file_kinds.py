"""Every file given as a checkpoint is recognised and either loaded safely or
refused with an error that names the file and says what it is; only a real
pickle with forbidden objects is called unsafe."""
import gzip
import json
import pickle
import random
import re

import numpy as np
import pytest
import torch

from g2sd_mm.checkpoint import (CheckpointError, UnsafeCheckpointError, load_checkpoint_file,
                                load_vit_pretrained, sniff)
from g2sd_mm.checkpoint import file_kind
from g2sd_mm.models import ViTDet


class _WritesFile:
    """Unpickling this object would run ``open(path, 'w')``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def _state():
    torch.manual_seed(0)
    return {'w': torch.randn(3, 4), 'b': torch.arange(5), 'h': torch.rand(2).half()}


def _assert_equal(loaded, state):
    assert sorted(loaded) == sorted(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_safetensors_file_loads_with_equal_tensors(tmp_path):
    from safetensors.torch import save_file
    state = _state()
    path = tmp_path / 'weights.safetensors'
    save_file(state, str(path))
    assert sniff(str(path)).kind == file_kind.SAFETENSORS
    _assert_equal(load_checkpoint_file(str(path)), state)


def test_safetensors_encoder_initialises_a_backbone(tmp_path):
    from safetensors.torch import save_file
    cfg = dict(arch=dict(embed_dim=16, depth=1, num_heads=2), img_size=32,
               pretrain_img_size=32, window_size=2, global_attn_indexes=(0,))
    src = ViTDet(**cfg)
    path = tmp_path / 'encoder.safetensors'
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path))
    dst = ViTDet(**cfg)
    report = load_vit_pretrained(dst, str(path))
    assert report['missing'] == [] and report['ignored'] == []
    for key, value in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[key], value, rtol=0, atol=0)


def test_legacy_torch_file_loads(tmp_path):
    state = _state()
    path = tmp_path / 'old.pth'
    torch.save(state, path, _use_new_zipfile_serialization=False)
    assert sniff(str(path)).kind == file_kind.TORCH_LEGACY
    _assert_equal(load_checkpoint_file(str(path)), state)


def test_json_file_is_named_as_json(tmp_path):
    path = tmp_path / 'config.pth'
    path.write_text(json.dumps({'model': {'w': [1, 2, 3]}}))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_file(str(path))
    assert not isinstance(err.value, UnsafeCheckpointError)
    assert str(err.value) == f'{path}: cannot read checkpoint: it is a JSON document, not a ' \
        'checkpoint'


@pytest.mark.parametrize('name,data,what', [
    ('empty.pth', b'', 'an empty file'),
    ('archive.pth', gzip.compress(b'x' * 100), 'a gzip archive, not a checkpoint'),
    ('text.pth', b'hello, this is not a checkpoint\n', 'not a recognised checkpoint format'),
])
def test_other_files_say_what_they_are(tmp_path, name, data, what):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=re.escape(f'{path}: cannot read checkpoint: it is '
                                                        f'{what}')) as err:
        load_checkpoint_file(str(path))
    assert 'trust_pickle' not in str(err.value)


def test_truncated_zip_is_named_as_truncated(tmp_path):
    path = tmp_path / 'cut.pth'
    torch.save({'w': torch.randn(1000)}, path)
    path.write_bytes(path.read_bytes()[:2500])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_file(str(path))
    assert not isinstance(err.value, UnsafeCheckpointError)
    assert str(err.value).startswith(f'{path}: cannot read checkpoint (truncated or not a torch '
                                     'checkpoint?): a zip archive (torch.save format) without '
                                     'its central directory: truncated')


def test_truncated_safetensors_is_named_as_truncated(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / 'cut.safetensors'
    save_file(_state(), str(path))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + r': cannot read checkpoint '
                       r'\(truncated.*safetensors file whose \d+-byte header runs past the end'):
        load_checkpoint_file(str(path))


# ---------------------------------------------------------- raw pickles (.pkl)
def _detectron2_like():
    rng = np.random.default_rng(0)
    return {'model': {'backbone.net.pos_embed': rng.standard_normal((1, 5, 4)).astype(np.float32),
                      'backbone.net.blocks.0.attn.qkv.bias': np.arange(6, dtype=np.float64)},
            '__author__': 'Detectron2 Model Zoo', 'matching_heuristics': True}


@pytest.mark.parametrize('protocol', [2, 4])
def test_detectron2_style_pickle_loads_its_arrays(tmp_path, protocol):
    data = _detectron2_like()
    path = tmp_path / 'model_final.pkl'
    with open(path, 'wb') as f:
        pickle.dump(data, f, protocol=protocol)
    assert sniff(str(path)).kind == file_kind.PICKLE
    loaded = load_checkpoint_file(str(path))
    assert loaded['__author__'] == data['__author__']
    for key, value in data['model'].items():
        np.testing.assert_array_equal(loaded['model'][key], value)
        assert loaded['model'][key].dtype == value.dtype


def test_protocol_0_pickle_with_pkl_suffix_goes_to_the_pickle_reader(tmp_path):
    path = tmp_path / 'old.pkl'
    path.write_bytes(pickle.dumps({'a': [1, 2.5, 'x']}, protocol=0))
    assert load_checkpoint_file(str(path)) == {'a': [1, 2.5, 'x']}


def test_malicious_pickle_is_refused_naming_the_global(tmp_path):
    victim = tmp_path / 'pwned.txt'
    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps({'model': {}, 'x': _WritesFile(str(victim))}, protocol=4))
    with pytest.raises(UnsafeCheckpointError, match=re.escape(str(path)) + r': refused to '
                       r'unpickle \(global (builtins|io)\.open is not allowed\).*'
                       r'trust_pickle=True'):
        load_checkpoint_file(str(path))
    assert not victim.exists()
    load_checkpoint_file(str(path), trust_pickle=True)  # the user vouched for the file
    assert victim.exists()


def test_truncated_pickle_is_named(tmp_path):
    path = tmp_path / 'cut.pkl'
    path.write_bytes(pickle.dumps(_detectron2_like(), protocol=4)[:150])
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + r': cannot read checkpoint '
                       r'\(truncated.*cut short') as err:
        load_checkpoint_file(str(path))
    assert not isinstance(err.value, UnsafeCheckpointError)


# ------------------------------------------------------------- random bytes
_PREFIXES = {
    'none': b'',
    'zip': b'PK\x03\x04',
    'legacy torch': file_kind._LEGACY_HEAD,
    'pickle': b'\x80\x04',
    'safetensors': (40).to_bytes(8, 'little') + b'{',
}


@pytest.mark.parametrize('seed', range(20))
@pytest.mark.parametrize('prefix', list(_PREFIXES))
def test_random_bytes_give_a_checkpoint_error_naming_the_file(tmp_path, seed, prefix):
    rng = random.Random(seed)
    data = _PREFIXES[prefix] + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096)))
    if prefix == 'zip':  # a complete-looking zip: torch itself has to reject the contents
        data += b'PK\x05\x06' + bytes(18)
    path = tmp_path / f'random_{seed}.pth'
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_file(str(path))
    assert str(err.value).startswith(f'{path}: ')
    if prefix != 'pickle':  # only pickle data can name a forbidden global
        assert not isinstance(err.value, UnsafeCheckpointError), str(err.value)
