"""Tiny models and a tokenizer built in code, for tests, recipes' smoke runs and CPU-scale experiments.

Nothing here reads a file or the network: configs are transformers configs with small sizes, and the tokenizer is a
byte-level BPE with no merges (every byte is a token), so any text encodes.
"""

from __future__ import annotations

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")


def byte_tokenizer(corpus=None, vocab_size: int = 259):
    """A byte-level `PreTrainedTokenizerFast` (256 bytes + `<pad>`, `<s>`, `</s>`), built in code.

    With the default `vocab_size=259` there are no merges; give a `corpus` (iterable of strings) and a larger
    `vocab_size` to learn BPE merges on it (a small corpus yields fewer merges than asked: use `len(tokenizer)`).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(
            f"vocab_size must be at least {256 + len(SPECIAL_TOKENS)} (bytes + specials), got {vocab_size}"
        )
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus) if corpus is not None else [""], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_llama_config(vocab_size: int = 259, **overrides):
    """A ~110k-parameter Llama config (hidden 64, 2 layers, 4 heads, 2 KV heads); ids match `byte_tokenizer()`."""
    from transformers import LlamaConfig

    kwargs = dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    kwargs.update(overrides)
    if "hidden_size" in overrides and "head_dim" not in overrides:  # LlamaConfig.head_dim is explicit in v5
        kwargs["head_dim"] = kwargs["hidden_size"] // kwargs["num_attention_heads"]
    return LlamaConfig(**kwargs)


def tiny_bert_config(vocab_size: int = 259, **overrides):
    """A tiny BERT encoder config (hidden 32, 2 layers, 4 heads)."""
    from transformers import BertConfig

    kwargs = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=128,
        pad_token_id=0,
    )
    kwargs.update(overrides)
    return BertConfig(**kwargs)


def tiny_vit_config(image_size: int = 8, num_channels: int = 1, num_labels: int = 10, **overrides):
    """A tiny ViT config for 8×8 single-channel images (2×2 patches, hidden 32, 2 layers)."""
    from transformers import ViTConfig

    kwargs = dict(
        image_size=image_size,
        patch_size=2,
        num_channels=num_channels,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_labels=num_labels,
    )
    kwargs.update(overrides)
    return ViTConfig(**kwargs)


def tiny_llama(seed: int = 0, **overrides):
    """A randomly initialised tiny `LlamaForCausalLM` (seeded) matching `byte_tokenizer()`."""
    from transformers import LlamaForCausalLM, set_seed

    set_seed(seed)
    return LlamaForCausalLM(tiny_llama_config(**overrides)).eval()


__all__ = ["byte_tokenizer", "tiny_bert_config", "tiny_llama", "tiny_llama_config", "tiny_vit_config"]
