"""Transformer encoder-decoder and decoder-only LM: shapes, masks, gradients, the LM contract."""
from __future__ import annotations

import torch

from dltrain.data.text.tokenizer import PAD_ID
from dltrain.models.sequence.transformer import Transformer, TransformerLM


def tiny_transformer() -> Transformer:
    torch.manual_seed(0)
    return Transformer(vocab_size=20, d_model=16, num_heads=2, d_ff=32, num_encoder_layers=2,
                       num_decoder_layers=2, dropout=0.0).eval()


def test_transformer_forward_backward_and_cross_attention_weights():
    model = tiny_transformer().train()
    src = torch.randint(4, 20, (3, 7))
    tgt_in = torch.randint(4, 20, (3, 5))
    mask = torch.ones(3, 7, dtype=torch.bool)
    logits = model(src, mask, tgt_in)
    assert logits.shape == (3, 5, 20)
    logits.sum().backward()
    assert model.source_embedding.embedding.weight.grad.abs().sum() > 0
    _, weights = model.decode(tgt_in, model.encode(src, mask), need_weights=True)
    assert weights.shape == (3, 5, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))


def test_source_padding_is_invisible_to_the_decoder():
    model = tiny_transformer()
    src = torch.randint(4, 20, (1, 6))
    src[0, 4:] = PAD_ID
    mask = src != PAD_ID
    other = src.clone()
    other[0, 4:] = torch.tensor([7, 9])  # garbage behind the mask
    tgt_in = torch.randint(4, 20, (1, 4))
    torch.testing.assert_close(model(src, mask, tgt_in), model(other, mask, tgt_in))


def test_decoder_does_not_see_future_target_tokens():
    model = tiny_transformer()
    src, mask = torch.randint(4, 20, (2, 6)), torch.ones(2, 6, dtype=torch.bool)
    tgt_in = torch.randint(4, 20, (2, 6))
    changed = tgt_in.clone()
    changed[:, 3:] = torch.randint(4, 20, (2, 3))
    torch.testing.assert_close(model(src, mask, tgt_in)[:, :3], model(src, mask, changed)[:, :3])


def test_language_model_contract_and_causality():
    torch.manual_seed(0)
    model = TransformerLM(vocab_size=30, d_model=16, num_heads=2, d_ff=32, num_layers=2, dropout=0.0).eval()
    tokens = torch.randint(0, 30, (2, 10))
    logits = model(tokens)
    assert logits.shape == (2, 10, 30)
    changed = tokens.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 30
    torch.testing.assert_close(logits[:, :6], model(changed)[:, :6])


def test_transformer_lm_config_builds_on_the_language_model_data():
    from hydra.utils import instantiate

    from dltrain import api

    cfg = api.compose(["experiment=transformer_lm_python"])
    model = instantiate(cfg.model)
    assert cfg.task._target_.endswith("LanguageModelTask")
    assert model(torch.zeros(2, cfg.data.seq_len, dtype=torch.long)).shape == (2, cfg.data.seq_len, cfg.data.vocab_size)
    # the recipe's model as a user names it: model=transformer_lm brings the language-model task itself
    assert api.compose(["model=transformer_lm", "data=python_chars"]).task._target_ == cfg.task._target_
