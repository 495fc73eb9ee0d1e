"""Per-sample GD masks: a function of (mask_seed, iteration, sample_idx) only."""
import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample
from tiny_models import build_distiller

L = 16  # 32 px images, patch 8
KEEP = 4  # 25% of 16 patches stay visible


def samples(*indices):
    return [DataSample(metainfo=dict(sample_idx=i)) for i in indices]


@pytest.fixture
def at_iter():
    hub = MessageHub.get_current_instance()
    before = hub.get_info('iter', None)

    def set_iter(it):
        hub.update_info('iter', it)
    yield set_iter
    hub.update_info('iter', 0 if before is None else before)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_distiller()


def rows(mask):
    """Per sample: the set of visible patches."""
    return [frozenset(r.tolist()) for r in mask.ids_keep]


def test_mask_of_a_sample_ignores_batch_composition_and_order(model, at_iter):
    at_iter(7)
    x = torch.randn(4, 3, 32, 32)
    full = rows(model.make_mask(x, data_samples=samples(10, 11, 12, 13)))
    alone = rows(model.make_mask(x[:1], data_samples=samples(12)))
    shuffled = rows(model.make_mask(x[:3], data_samples=samples(13, 12, 99)))
    half = rows(model.make_mask(x[:2], data_samples=samples(10, 11)))  # one rank's half
    assert alone[0] == full[2] == shuffled[1]
    assert shuffled[0] == full[3] and half == full[:2]
    assert len(set(full)) == 4  # different samples, different masks


def test_mask_changes_with_iteration_and_seed(model, at_iter):
    x = torch.randn(3, 3, 32, 32)
    at_iter(0)
    first = rows(model.make_mask(x, data_samples=samples(1, 2, 3)))
    at_iter(1)
    second = rows(model.make_mask(x, data_samples=samples(1, 2, 3)))
    assert all(a != b for a, b in zip(first, second))
    model.mask_seed.fill_(12345)
    at_iter(0)
    other_seed = rows(model.make_mask(x, data_samples=samples(1, 2, 3)))
    assert all(a != b for a, b in zip(first, other_seed))


def test_masks_are_valid_mae_masks(model, at_iter):
    at_iter(3)
    x = torch.randn(8, 3, 32, 32)
    mask = model.make_mask(x, data_samples=samples(*range(100, 108)))
    assert mask.ids_keep.shape == (8, KEEP)
    assert torch.equal(mask.mask.sum(1), torch.full((8,), float(L - KEEP)))
    for keep, restore, m in zip(mask.ids_keep, mask.ids_restore, mask.mask):
        assert len(set(keep.tolist())) == KEEP
        assert sorted(restore.tolist()) == list(range(L))
        assert torch.all(m[keep] == 0)  # visible patches are unmasked


def test_per_sample_noise_leaves_the_global_generator_alone(model, at_iter):
    at_iter(5)
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(1)
    before = torch.get_rng_state()
    a = rows(model.make_mask(x, data_samples=samples(4, 5)))
    assert torch.equal(before, torch.get_rng_state())
    torch.manual_seed(2)
    assert rows(model.make_mask(x, data_samples=samples(4, 5))) == a


def test_fallback_to_the_global_generator(model, at_iter):
    at_iter(0)
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(3)
    no_samples = rows(model.make_mask(x))
    torch.manual_seed(3)
    assert rows(model.make_mask(x, data_samples=[DataSample(), DataSample()])) == no_samples
    torch.manual_seed(4)
    assert rows(model.make_mask(x)) != no_samples  # drawn from the global generator
    global_model = build_distiller(mask_rng='global')
    torch.manual_seed(3)
    assert rows(global_model.make_mask(x, data_samples=samples(0, 1))) == no_samples


def test_loss_uses_the_per_sample_noise(model, at_iter):
    at_iter(9)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    expected = model.loss(x, noise=model.sample_noise([20, 21], L, iteration=9))['loss_gd']
    assert model.loss(x, samples(20, 21))['loss_gd'].item() == expected.item()


def test_mask_seed_is_seeded_persistent_and_backward_compatible():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a = build_distiller()
    torch.manual_seed(0)
    b = build_distiller()
    assert int(a.mask_seed) == int(b.mask_seed)  # a function of the seed
    torch.manual_seed(0)
    assert torch.equal(torch.get_rng_state(), before)
    state = a.state_dict()
    assert 'mask_seed' in state
    torch.manual_seed(1)
    c = build_distiller()
    assert int(c.mask_seed) != int(a.mask_seed)
    c.load_state_dict(state, strict=True)
    assert int(c.mask_seed) == int(a.mask_seed)  # resumed with the run's seed
    old = {k: v for k, v in state.items() if k != 'mask_seed'}
    seed = int(b.mask_seed)
    b.mask_seed.fill_(seed + 1)
    b.load_state_dict(old, strict=True)  # a checkpoint from before mask_seed existed
    assert int(b.mask_seed) == seed + 1


def test_mask_rng_is_checked():
    with pytest.raises(ValueError, match='mask_rng'):
        build_distiller(mask_rng='per-batch')
