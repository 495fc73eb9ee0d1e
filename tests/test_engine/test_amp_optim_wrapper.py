import pytest
import torch
import torch.nn as nn
from mmengine.registry import OPTIM_WRAPPERS

import g2sd_mm  # noqa: F401

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')


def _wrapper(**kw):
    model = nn.Linear(4, 2)
    wrapper = OPTIM_WRAPPERS.build(dict(type='AnyDeviceAmpOptimWrapper',
                                        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                        **kw))
    return model, wrapper


def test_cpu_bf16_autocast_and_update():
    model, wrapper = _wrapper()
    before = model.weight.clone()
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert not torch.equal(before, model.weight)
    state = wrapper.state_dict()
    _, other = _wrapper()
    other.load_state_dict(state)


def test_cpu_fp16_uses_a_loss_scaler_that_resumes():
    model, wrapper = _wrapper(dtype='float16', loss_scale=256.0)
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.float16
    wrapper.update_params(out.float().pow(2).mean())
    state = wrapper.state_dict()
    assert state['loss_scaler']['scale'] == 256.0
    _, other = _wrapper(dtype='float16')
    other.load_state_dict(state)
    assert other.loss_scaler.get_scale() == 256.0


def test_bad_dtype():
    with pytest.raises(ValueError, match='dtype'):
        _wrapper(dtype='int8')
