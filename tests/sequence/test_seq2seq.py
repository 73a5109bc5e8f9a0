"""GRU encoder-decoders: shapes, gradients, attention weights, padding that never leaks in."""
from __future__ import annotations

import pytest
import torch

from dltrain.data.text.tokenizer import PAD_ID
from dltrain.models.sequence.seq2seq import AttentionSeq2Seq, Seq2Seq


@pytest.mark.parametrize("cls", [Seq2Seq, AttentionSeq2Seq])
def test_teacher_forced_forward_backward(cls):
    torch.manual_seed(0)
    model = cls(vocab_size=20, embed_dim=8, hidden_size=16, num_layers=2)
    src = torch.randint(4, 20, (3, 7))
    src[1, 5:] = PAD_ID
    logits = model(src, src != PAD_ID, torch.randint(4, 20, (3, 5)))
    assert logits.shape == (3, 5, 20) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert model.encoder.embedding.weight.grad.abs().sum() > 0


def test_additive_attention_weights_are_a_distribution_over_real_source_tokens():
    torch.manual_seed(0)
    model = AttentionSeq2Seq(vocab_size=20, embed_dim=8, hidden_size=16).eval()
    src = torch.randint(4, 20, (2, 6))
    src[1, 3:] = PAD_ID
    _, weights = model.decode(torch.randint(4, 20, (2, 4)), model.encode(src, src != PAD_ID))
    assert weights.shape == (2, 4, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4))
    assert weights[1, :, 3:].abs().max() == 0


@pytest.mark.parametrize("cls", [Seq2Seq, AttentionSeq2Seq])
def test_padding_the_source_does_not_change_the_translation(cls):
    torch.manual_seed(0)
    model = cls(vocab_size=20, embed_dim=8, hidden_size=16).eval()
    src = torch.randint(4, 20, (1, 5))
    padded = torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    tgt_in = torch.randint(4, 20, (1, 4))
    torch.testing.assert_close(model(src, src != PAD_ID, tgt_in), model(padded, padded != PAD_ID, tgt_in),
                               atol=1e-5, rtol=1e-5)
