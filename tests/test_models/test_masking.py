import pytest
import torch

from g2sd_mm.models.utils.masking import masking_from_noise, num_visible, random_masking


def test_smallest_noise_stays_visible():
    noise = torch.tensor([[0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4]])
    m = masking_from_noise(noise, 0.75)
    assert m.ids_keep.tolist() == [[1, 5]]
    assert m.mask.tolist() == [[1, 0, 1, 1, 1, 0, 1, 1]]


def test_restore_inverts_shuffle():
    torch.manual_seed(0)
    m = random_masking(3, 16, 0.75, torch.device('cpu'))
    assert m.ids_keep.shape == (3, 4)
    assert m.mask.sum(1).tolist() == [12.0] * 3
    for b in range(3):
        # the visible ids are exactly the positions the mask marks 0
        assert set(m.ids_keep[b].tolist()) == set((m.mask[b] == 0).nonzero().flatten().tolist())
        # ids_restore inverts the shuffle whose first K entries are ids_keep
        ids_shuffle = torch.argsort(m.ids_restore[b])
        assert ids_shuffle[:4].tolist() == m.ids_keep[b].tolist()
        assert ids_shuffle[m.ids_restore[b]].tolist() == list(range(16))


@pytest.mark.parametrize('ratio', [-0.1, 1.0, 1.5])
def test_bad_ratio(ratio):
    with pytest.raises(ValueError, match='mask_ratio'):
        num_visible(16, ratio)


def test_bad_noise_shape():
    with pytest.raises(ValueError, match='batch, patches'):
        masking_from_noise(torch.rand(16), 0.75)
