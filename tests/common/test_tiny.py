"""Tiny configs and the in-code byte-level tokenizer (hf_methods.common.tiny)."""

import pytest
import torch

from hf_methods.common import tiny


def test_byte_tokenizer_round_trip(tmp_path):
    from transformers import AutoTokenizer

    tok = tiny.byte_tokenizer()
    assert len(tok) == 259
    text = "Héllo, wörld! 123 ✓"
    ids = tok(text).input_ids
    assert tok.decode(ids) == text
    tok.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)(text).input_ids == ids
    with pytest.raises(ValueError, match="vocab_size"):
        tiny.byte_tokenizer(vocab_size=100)


def test_tiny_models_run():
    from transformers import BertModel, ViTForImageClassification

    tok = tiny.byte_tokenizer()
    model = tiny.tiny_llama(seed=0)
    ids = tok("hello world", return_tensors="pt").input_ids
    assert model(ids).logits.shape == (1, ids.shape[1], 259)
    assert sum(p.numel() for p in model.parameters()) < 200_000
    assert BertModel(tiny.tiny_bert_config())(ids).last_hidden_state.shape == (1, ids.shape[1], 32)
    vit = ViTForImageClassification(tiny.tiny_vit_config())
    assert vit(torch.rand(2, 1, 8, 8)).logits.shape == (2, 10)
    assert tiny.tiny_llama_config(hidden_size=32).head_dim == 8
