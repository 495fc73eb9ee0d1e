"""Checkpoints named by URL or model-zoo scheme go through the safe reader.

mmengine reads ``https://`` checkpoints with ``torch.hub.load_state_dict_from_url``
(``weights_only=False``): a file already in ``$TORCH_HOME/hub/checkpoints``
named like the URL would run its pickled code. No test here touches the
network: downloads are replaced by a function that fails the test.
"""
import os
import pickle
import re
from collections import OrderedDict

import pytest
import torch
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from g2sd_mm.checkpoint import CheckpointError, UnsafeCheckpointError, schemes

URL = 'https://example.com/x.pth'


class _WritesFile:
    """Unpickling this object would run ``open(path, 'w')``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty ``$TORCH_HOME`` whose hub cache is returned; downloading fails."""
    home = tmp_path / 'torch_home'
    monkeypatch.setenv('TORCH_HOME', str(home))
    monkeypatch.setattr(torch.hub, '_hub_dir', None)  # follow TORCH_HOME

    def no_download(url, *args, **kwargs):
        raise AssertionError(f'the test tried to download {url}')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_download)
    cache = home / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    return cache


def _evil(path, victim):
    torch.save(dict(state_dict=dict(weight=torch.ones(2, 2), bias=torch.ones(2)),
                    meta=_WritesFile(str(victim))), path)


def test_every_mmengine_scheme_is_routed_through_the_safe_reader():
    assert set(schemes.SAFE_LOADERS) <= set(CheckpointLoader._schemes)
    for prefix, loader in CheckpointLoader._schemes.items():
        assert loader.__module__ == schemes.__name__, (prefix, loader)
        assert loader is schemes.SAFE_LOADERS[prefix], prefix


def test_malicious_file_in_the_hub_cache_never_runs(hub_cache, tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    victim = tmp_path / 'pwned.txt'
    _evil(hub_cache / 'x.pth', victim)
    for load in (lambda: CheckpointLoader.load_checkpoint(URL),
                 lambda: _load_checkpoint(URL, map_location='cpu'),
                 lambda: load_checkpoint(torch.nn.Linear(2, 2), URL)):
        with pytest.raises(UnsafeCheckpointError) as err:
            load()
        msg = str(err.value)
        assert msg.startswith(f'{hub_cache / "x.pth"}: refused to unpickle'), msg
        assert msg.endswith(f'[read from {URL}]') and 'trust_pickle' in msg
    assert not victim.exists()


def test_clean_file_in_the_hub_cache_loads(hub_cache):
    torch.save(dict(state_dict=dict(weight=torch.full((2, 2), 3.0), bias=torch.zeros(2))),
               hub_cache / 'x.pth')
    model = torch.nn.Linear(2, 2)
    load_checkpoint(model, URL)
    assert torch.all(model.weight == 3)


def test_unreadable_cached_file_names_file_and_url(hub_cache):
    (hub_cache / 'x.pth').write_text('{"not": "weights"}')
    with pytest.raises(CheckpointError, match=re.escape(f'{hub_cache / "x.pth"}: cannot read '
                                                        'checkpoint: it is a JSON document')
                       + '.*' + re.escape(URL)):
        CheckpointLoader.load_checkpoint(URL)


@pytest.mark.parametrize('scheme,table', [
    ('torchvision://', 'get_torchvision_models'),
    ('modelzoo://', 'get_torchvision_models'),
    ('open-mmlab://', 'get_external_models'),
    ('openmmlab://', 'get_external_models'),
    ('mmcls://', 'get_mmcls_models'),
])
def test_model_zoo_names_resolve_to_the_safe_url_reader(hub_cache, tmp_path, monkeypatch, scheme,
                                                        table):
    victim = tmp_path / 'pwned.txt'
    _evil(hub_cache / 'zoo_model.pth', victim)
    monkeypatch.setattr(mm_checkpoint, table,
                        lambda: {'zoo_model': 'https://example.com/zoo_model.pth'})
    with pytest.raises(UnsafeCheckpointError, match='zoo_model.pth: refused to unpickle'):
        CheckpointLoader.load_checkpoint(scheme + 'zoo_model')
    with pytest.raises(CheckpointError, match=re.escape(scheme + 'other') + ': unknown'):
        CheckpointLoader.load_checkpoint(scheme + 'other')
    assert not victim.exists()


@pytest.mark.parametrize('url', ['s3://bucket/evil.pth', 'cluster:s3://bucket/evil.pth',
                                 'petrel://bucket/evil.pth'])
def test_object_storage_bytes_are_read_safely(tmp_path, monkeypatch, url):
    victim = tmp_path / 'pwned.txt'
    local = tmp_path / 'evil.pth'
    _evil(local, victim)

    class Backend:
        def get(self, filepath):
            assert filepath == url
            return local.read_bytes()
    import mmengine.fileio
    monkeypatch.setattr(mmengine.fileio, 'get_file_backend', lambda *a, **k: Backend())
    with pytest.raises(UnsafeCheckpointError, match=re.escape(url) + ': refused to unpickle'):
        CheckpointLoader.load_checkpoint(url)
    assert not victim.exists()


def test_a_scheme_without_a_safe_reader_is_refused(monkeypatch):
    called = []
    extra = OrderedDict(CheckpointLoader._schemes)
    extra['custom://'] = lambda filename, map_location=None: called.append(filename)
    monkeypatch.setattr(CheckpointLoader, '_schemes', extra)
    monkeypatch.setattr(schemes, '_REGISTERED', False)
    schemes.register_safe_loading()
    with pytest.raises(CheckpointError, match=re.escape("custom://model.pth: checkpoints with the "
                                                        "scheme 'custom://' are not read")):
        CheckpointLoader.load_checkpoint('custom://model.pth')
    assert not called


def test_raw_pickle_through_mmengine_is_read_by_the_restricted_unpickler(tmp_path):
    victim = tmp_path / 'pwned.txt'
    path = tmp_path / 'model_final.pkl'
    path.write_bytes(pickle.dumps({'model': {}, 'x': _WritesFile(str(victim))}, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match='model_final.pkl: refused to unpickle'):
        _load_checkpoint(str(path))
    assert not victim.exists()
    assert os.path.exists(path)
