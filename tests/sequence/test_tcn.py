"""TCN: causal (no future leaks into the past), the receptive field the paper's formula gives, weight norm switch."""
from __future__ import annotations

import pytest
import torch

from dltrain.models.sequence.tcn import TCN, TCNLanguageModel


@pytest.mark.parametrize("weight_norm", [True, False])
@torch.no_grad()
def test_perturbing_future_inputs_does_not_change_past_outputs(weight_norm):
    torch.manual_seed(0)
    tcn = TCN(input_size=3, channels=[8, 8, 8], kernel_size=3, dropout=0.0, weight_norm=weight_norm).eval()
    x = torch.randn(2, 3, 40)
    changed = x.clone()
    changed[:, :, 25:] += torch.randn(2, 3, 15)
    output, output_changed = tcn(x), tcn(changed)
    assert output.shape == (2, 8, 40)
    torch.testing.assert_close(output_changed[:, :, :25], output[:, :, :25])
    assert not torch.allclose(output_changed[:, :, 25:], output[:, :, 25:])


@torch.no_grad()
def test_receptive_field_matches_the_formula():
    torch.manual_seed(0)
    tcn = TCN(input_size=1, channels=[16, 16], kernel_size=3, dropout=0.0).eval()
    assert tcn.receptive_field == 1 + 2 * 2 * (2**2 - 1)  # 13
    x = torch.randn(1, 1, 30)
    last = tcn.receptive_field - 1  # the output at this step still sees input 0; one step later it does not
    for step, sees_input_0 in ((last, True), (last + 1, False)):
        changed = x.clone()
        changed[..., 0] += 1.0
        moved = not torch.equal(tcn(changed)[..., step], tcn(x)[..., step])  # exact: N(0, 0.01) weights make tiny changes
        assert moved == sees_input_0


def test_weight_norm_switch_reparameterises_the_convolutions():
    with_norm = TCN(2, [4], weight_norm=True)
    without = TCN(2, [4], weight_norm=False)
    assert any("parametrizations.weight.original0" in name for name, _ in with_norm.named_parameters())
    assert not any("parametrizations" in name for name, _ in without.named_parameters())


def test_language_model_shapes_and_backward():
    model = TCNLanguageModel(vocab_size=30, embedding_dim=8, channels=[16, 16], kernel_size=2)
    logits = model(torch.randint(0, 30, (2, 11)))
    assert logits.shape == (2, 11, 30)
    logits.mean().backward()
    assert model.embedding.weight.grad is not None
