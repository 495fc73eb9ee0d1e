import pytest
import torch
import torch.nn.functional as F

from g2sd_mm.models.losses import FeatureDistillLoss


def test_zero_when_student_matches_normalised_teacher():
    loss = FeatureDistillLoss()
    teacher = torch.randn(2, 5, 8) * 3 + 1
    student = F.layer_norm(teacher, (8,), eps=1e-6)
    assert loss(student, teacher).item() == pytest.approx(0.0, abs=1e-7)


def test_hand_value_on_2x3():
    # one token with 3 channels per sample; targets not normalised
    loss = FeatureDistillLoss(beta=2.0, norm_target=False)
    student = torch.tensor([[[0.0, 1.0, 5.0]], [[2.0, 2.0, 2.0]]])
    teacher = torch.tensor([[[1.0, 1.0, 1.0]], [[2.0, -1.0, 2.0]]])
    # |d| = 1, 0, 4 | 0, 3, 0 ; smooth-l1(beta=2): |d|<2 -> 0.5 d^2 / 2, else |d| - 1
    expected = (0.25 + 0 + 3.0 + 0 + 2.0 + 0) / 6
    assert loss(student, teacher).item() == pytest.approx(expected)


def test_target_is_layernorm_without_affine():
    loss = FeatureDistillLoss()
    t = torch.tensor([[[1.0, 2.0, 3.0, 6.0]]])
    mean, var = t.mean(-1, keepdim=True), t.var(-1, unbiased=False, keepdim=True)
    torch.testing.assert_close(loss.target(t), (t - mean) / torch.sqrt(var + 1e-6))


def test_mask_averages_supervised_tokens_only():
    loss = FeatureDistillLoss(criterion='mse', norm_target=False)
    student = torch.zeros(1, 3, 2)
    teacher = torch.tensor([[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]])
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    assert loss(student, teacher, mask).item() == pytest.approx((4 + 9) / 2)
    assert loss(student, teacher).item() == pytest.approx((1 + 4 + 9) / 3)


def test_computed_in_fp32_under_autocast():
    loss = FeatureDistillLoss()
    s = torch.randn(2, 4, 8).bfloat16()
    t = torch.randn(2, 4, 8).bfloat16()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(s, t)
    assert out.dtype == torch.float32
    ref = F.smooth_l1_loss(s.float(), F.layer_norm(t.float(), (8,), eps=1e-6), beta=2.0)
    torch.testing.assert_close(out, ref)


def test_bad_arguments():
    with pytest.raises(ValueError, match='criterion'):
        FeatureDistillLoss(criterion='cosine')
    with pytest.raises(ValueError, match='differ in shape'):
        FeatureDistillLoss()(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))
