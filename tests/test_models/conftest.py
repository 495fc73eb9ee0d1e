import pytest
import torch
from tiny_models import TEACHER, module_kwargs

from g2sd_mm.models import MaskedAutoencoderViT


@pytest.fixture
def full_teacher():
    """A full 'official' MAE teacher: 4 decoder blocks, decoder norm (+ pixel head in files)."""
    torch.manual_seed(0)
    cfg = module_kwargs(TEACHER)
    cfg['decoder_norm'] = True
    return MaskedAutoencoderViT(**cfg).eval()


@pytest.fixture
def official_full_ckpt(tmp_path, full_teacher):
    """A full MAE checkpoint in the official layout (``{'model': ...}``)."""
    state = full_teacher.state_dict()
    state['decoder_pred.weight'] = torch.randn(8 * 8 * 3, 16)
    state['decoder_pred.bias'] = torch.zeros(8 * 8 * 3)
    path = tmp_path / 'mae_full.pth'
    torch.save(dict(model=state), path)
    return str(path)
