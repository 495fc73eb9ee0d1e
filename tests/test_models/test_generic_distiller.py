import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from tiny_models import STUDENT, TEACHER, build_distiller

from g2sd_mm.checkpoint import CheckpointError
from g2sd_mm.models.utils import masking_from_noise


def _step(model, x):
    wrapper = OptimWrapper(torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3))
    return model.train_step(dict(inputs=x, data_samples=None), wrapper)


def test_teacher_and_student_see_the_same_mask():
    model = build_distiller()
    seen = {}
    for name in ('teacher', 'student'):
        getattr(model, name).blocks[0].register_forward_pre_hook(
            lambda m, a, name=name: seen.setdefault(name, []).append(a[0].shape))
    ids = {}
    orig_t, orig_s = model.teacher.forward_encoder, model.student.forward_encoder
    model.teacher.forward_encoder = lambda x, k: (ids.setdefault('t', k), orig_t(x, k))[1]
    model.student.forward_encoder = lambda x, k: (ids.setdefault('s', k), orig_s(x, k))[1]
    model.loss(torch.randn(3, 3, 32, 32))
    assert torch.equal(ids['t'], ids['s'])
    assert ids['t'].shape == (3, 4)
    assert seen['teacher'][0][1] == seen['student'][0][1] == 5


def test_target_equals_hand_computed_layernorm_of_block_k(full_teacher):
    model = build_distiller()
    state = {k: v for k, v in full_teacher.state_dict().items()
             if not k.startswith(('decoder_blocks.2', 'decoder_blocks.3', 'decoder_norm'))}
    model.teacher.load_state_dict(state)
    x = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16)
    mask = masking_from_noise(noise, 0.75)
    hidden = {}
    full_teacher.decoder_blocks[1].register_forward_hook(lambda m, i, o: hidden.setdefault('h', o))
    with torch.no_grad():
        full_teacher(x, mask.ids_keep, mask.ids_restore)
    h = hidden['h']
    mean = h.mean(-1, keepdim=True)
    var = ((h - mean) ** 2).mean(-1, keepdim=True)
    by_hand = (h - mean) / torch.sqrt(var + 1e-6)
    target = model.loss_module.target(model.teacher_target(x, model.make_mask(x, noise)))
    torch.testing.assert_close(target, by_hand, rtol=1e-5, atol=1e-5)
    assert target.shape == (2, 17, 16)


def test_loss_from_given_noise_is_reproducible_and_supervises_all_tokens():
    model = build_distiller().eval()
    x = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16)
    a = model.loss(x, noise=noise)['loss_gd']
    b = model.loss(x, noise=noise)['loss_gd']
    assert a.item() == b.item()
    mask = model.make_mask(x, noise)
    pred = model.student_prediction(x, mask)
    target = model.loss_module.target(model.teacher_target(x, mask))
    torch.testing.assert_close(a, F.smooth_l1_loss(pred, target, beta=2.0))
    with pytest.raises(ValueError, match=r'noise must have shape'):
        model.loss(x, noise=torch.rand(2, 15))


def test_masked_only_supervision():
    model = build_distiller(supervise='masked').eval()
    x = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16)
    mask = model.make_mask(x, noise)
    pred = model.student_prediction(x, mask)[:, 1:]
    target = model.loss_module.target(model.teacher_target(x, mask))[:, 1:]
    sel = mask.mask.bool()
    expected = F.smooth_l1_loss(pred[sel], target[sel], beta=2.0)
    torch.testing.assert_close(model.loss(x, noise=noise)['loss_gd'], expected)


def test_teacher_frozen_in_eval_and_unchanged_after_step():
    model = build_distiller()
    before = copy.deepcopy(model.teacher.state_dict())
    model.train()
    assert model.student.training and model.projector.training
    assert not model.teacher.training
    assert not any(m.training for m in model.teacher.modules())
    student_before = model.student.blocks[0].attn.qkv.weight.clone()
    log = _step(model, torch.randn(2, 3, 32, 32))
    assert 'loss_gd' in log
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(student_before, model.student.blocks[0].attn.qkv.weight)


def test_runner_init_weights_keeps_loaded_teacher(official_full_ckpt):
    model = build_distiller(teacher_ckpt=official_full_ckpt)
    before = copy.deepcopy(model.teacher.state_dict())
    model.init_weights()
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_checkpoints_leave_out_teacher_and_load_strictly():
    model = build_distiller()
    state = model.state_dict()
    assert state and not any(k.startswith('teacher.') for k in state)
    assert any(k.startswith('projector.') for k in state)
    other = build_distiller()
    other.load_state_dict(state, strict=True)
    for k, v in state.items():
        assert torch.equal(other.state_dict()[k], v)


def test_non_224_input_sizes():
    model = build_distiller()
    assert model.loss(torch.randn(2, 3, 48, 64))['loss_gd'].isfinite()
    with pytest.raises(ValueError, match='not a multiple of the patch size 8'):
        model.loss(torch.randn(2, 3, 50, 64))


def test_encoder_only_teacher_refused(tmp_path, full_teacher):
    state = {k: v for k, v in full_teacher.state_dict().items()
             if not k.startswith(('decoder', 'mask_token'))}
    path = tmp_path / 'enc_only.pth'
    torch.save(dict(model=state), path)
    with pytest.raises(CheckpointError, match='encoder-only'):
        build_distiller(teacher_ckpt=str(path))


def test_student_checkpoint_and_projector_width(tmp_path):
    src = build_distiller()
    path = tmp_path / 'gd.pth'
    torch.save(dict(state_dict=src.state_dict()), path)
    dst = build_distiller(student_ckpt=str(path))
    for k, v in src.state_dict().items():
        if k != 'mask_seed':  # the run's mask seed is not a weight
            assert torch.equal(dst.state_dict()[k], v), k
    wide = copy.deepcopy(TEACHER)
    wide.update(decoder_embed_dim=24, decoder_num_heads=2)
    with pytest.raises(CheckpointError, match='projector weights do not fit'):
        build_distiller(teacher=wide, student_ckpt=str(path))


def test_reference_student_checkpoint_loads(tmp_path):
    """Released G2SD students: official keys + decoderfeature_pred (+ unused heads)."""
    src = build_distiller()
    state = {k[len('student.'):]: v for k, v in src.state_dict().items()
             if k.startswith('student.')}
    state.update({f'decoderfeature_pred.{k}': v for k, v in src.projector.state_dict().items()})
    state['encoderfeature_pred.fc1.weight'] = torch.zeros(4, 16)
    state['decoder_norm.weight'] = torch.ones(8)
    state['decoder_norm.bias'] = torch.zeros(8)
    state['decoder_pred.weight'] = torch.zeros(192, 8)
    path = tmp_path / 'g2sd_reference_student.pth'
    torch.save(dict(model=state), path)
    dst = build_distiller(student_ckpt=str(path))
    for k, v in src.state_dict().items():
        if k != 'mask_seed':  # the run's mask seed is not a weight
            assert torch.equal(dst.state_dict()[k], v), k


def test_bad_configurations():
    with pytest.raises(ValueError, match='target_layer must be in'):
        build_distiller(target_layer=5)
    with pytest.raises(ValueError, match='decoder norm'):
        t = copy.deepcopy(TEACHER)
        t['decoder_norm'] = True
        build_distiller(teacher=t)
    s = copy.deepcopy(STUDENT)
    s['patch_size'] = 16
    with pytest.raises(ValueError, match='patch size'):
        build_distiller(student=s)
    with pytest.raises(ValueError, match='supervise'):
        build_distiller(supervise='visible')
    with pytest.raises(TypeError, match='student must be a config dict'):
        build_distiller(student='MaskedAutoencoderViT')


def test_nan_loss_stops_before_the_update():
    model = build_distiller()
    before = copy.deepcopy(model.student.state_dict())
    x = torch.randn(2, 3, 32, 32)
    x[0] = float('nan')
    with pytest.raises(FloatingPointError, match='non-finite loss.*loss_gd'):
        _step(model, x)
    for k, v in model.student.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_teacher_autocast_bf16_keeps_fp32_loss():
    model = build_distiller(teacher_autocast='bfloat16')
    dtypes = {}
    for name in ('teacher', 'student'):
        getattr(model, name).blocks[0].attn.qkv.register_forward_hook(
            lambda m, i, o, name=name: dtypes.update({name: o.dtype}))
    loss = model.loss(torch.randn(2, 3, 32, 32))['loss_gd']
    assert dtypes == dict(teacher=torch.bfloat16, student=torch.float32)
    assert loss.dtype == torch.float32


def test_predict_and_tensor_modes():
    model = build_distiller()
    x = torch.randn(2, 3, 32, 32)
    assert model(x, mode='tensor').shape == (2, 17, 16)
    with pytest.raises(NotImplementedError, match='no predictions'):
        model(x, mode='predict')
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model(x, mode='features')


def test_builds_under_another_default_scope():
    from mmengine.registry import DefaultScope
    import mmseg.registry  # noqa: F401  (registers the 'mmseg' scope)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = build_distiller()
    assert type(model.student).__name__ == 'MaskedAutoencoderViT'
