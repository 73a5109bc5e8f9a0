"""Attention written out: against the formula, masks that really hide, positions as in the paper."""
from __future__ import annotations

import math

import torch

from dltrain.models.sequence.attention import (
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
    causal_mask,
    scaled_dot_product_attention,
)


def reference_multi_head(attention: MultiHeadAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         mask: torch.Tensor | None) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d)) V per head with explicit loops, then W^O."""
    heads, d = attention.num_heads, attention.head_dim
    Q, K, V = attention.w_q(q), attention.w_k(k), attention.w_v(v)
    outputs = []
    for h in range(heads):
        part = slice(h * d, (h + 1) * d)
        scores = Q[..., part] @ K[..., part].transpose(1, 2) / math.sqrt(d)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        outputs.append(torch.softmax(scores, dim=-1) @ V[..., part])
    return attention.w_o(torch.cat(outputs, dim=-1))


def test_multi_head_attention_equals_the_hand_written_formula_on_both_paths():
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=16, num_heads=4).eval()
    q, k, v = torch.randn(2, 5, 16), torch.randn(2, 7, 16), torch.randn(2, 7, 16)
    padding = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    expected = reference_multi_head(attention, q, k, v, padding[:, None, :])
    fused, no_weights = attention(q, k, v, padding)
    explicit, weights = attention(q, k, v, padding, need_weights=True)
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(explicit, expected, atol=1e-5, rtol=1e-5)
    assert no_weights is None and weights.shape == (2, 4, 5, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 5))
    assert weights[1, :, :, 4:].abs().max() == 0  # padded keys get exactly zero weight


def test_perturbing_padded_positions_does_not_change_the_outputs():
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=8, num_heads=2).eval()
    x = torch.randn(1, 6, 8)
    padding = torch.tensor([[True, True, True, True, False, False]])
    changed = x.clone()
    changed[:, 4:] = torch.randn(1, 2, 8) * 10
    before, _ = attention(x, x, x, padding)
    after, _ = attention(changed, changed, changed, padding)
    torch.testing.assert_close(before[:, :4], after[:, :4])


def test_causal_attention_does_not_see_the_future():
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=8, num_heads=2).eval()
    x = torch.randn(2, 6, 8)
    changed = x.clone()
    changed[:, 3:] = torch.randn(2, 3, 8) * 10
    for need_weights in (False, True):
        before, _ = attention(x, x, x, causal=True, need_weights=need_weights)
        after, _ = attention(changed, changed, changed, causal=True, need_weights=need_weights)
        torch.testing.assert_close(before[:, :3], after[:, :3])
        assert not torch.allclose(before[:, 3:], after[:, 3:])
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]


def test_scaled_dot_product_attention_scales_by_the_square_root_of_the_width():
    q = torch.tensor([[[1.0, 1.0, 1.0, 1.0]]])
    k = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]])
    v = torch.tensor([[[1.0], [0.0]]])
    out, weights = scaled_dot_product_attention(q, k, v, need_weights=True)
    expected = math.exp(2) / (math.exp(2) + 1)  # scores 4 / sqrt(4) = 2 and 0
    assert abs(weights[0, 0, 0].item() - expected) < 1e-6 and abs(out.item() - expected) < 1e-6


def test_sinusoidal_positions_follow_the_paper():
    encoding = SinusoidalPositionalEncoding(d_model=6, max_len=50)
    table = encoding(torch.zeros(1, 50, 6))[0]
    pos, i = 7, 1
    assert abs(table[pos, 2 * i].item() - math.sin(pos / 10000 ** (2 * i / 6))) < 1e-6
    assert abs(table[pos, 2 * i + 1].item() - math.cos(pos / 10000 ** (2 * i / 6))) < 1e-6
