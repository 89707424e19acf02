"""A two-domain word language for detection experiments whose generators are known exactly.

Human text of a domain is a Markov chain over made-up words sampled at temperature 1; machine text is the *same*
chain sampled at a lower temperature (sharper rows: the machine picks likely successors more often), as a decoder
sampling at that temperature would. Domain B is domain A with half of its rows swapped among tokens, so the two
domains share a vocabulary but not their transitions. A tiny Llama backbone learns both domains from human text; PAWN
then reads its next-token metrics and hidden states.
"""

from __future__ import annotations

import itertools
import random

import torch

from hf_methods.common.markov import dirichlet_chain, permute_rows, sample_chain

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")


def made_up_words(vocab: int, seed: int = 0) -> list[str]:
    """`vocab` distinct pronounceable words (consonant-vowel-consonant-vowel), shuffled by `seed`."""
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    words = ["".join(p) for p in itertools.product(consonants, vowels, consonants, vowels)]
    random.Random(seed).shuffle(words)
    if vocab > len(words):
        raise ValueError(f"at most {len(words)} words, got vocab={vocab}")
    return words[:vocab]


def word_tokenizer(words: list[str]):
    """A word-level `PreTrainedTokenizerFast` over `words` (ids 0-3 are `<pad>`, `<s>`, `</s>`, `<unk>`)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIALS, *words])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def two_domain_chains(vocab: int, alpha: float, shifted_fraction: float, seed: int) -> dict[str, torch.Tensor]:
    """`{"A": T, "B": T with a fraction of its rows permuted}`: two languages over the same words."""
    chain = dirichlet_chain(vocab, alpha, seed)
    return {"A": chain, "B": permute_rows(chain, shifted_fraction, seed + 1)}


def chain_texts(
    transition: torch.Tensor, words: list[str], n: int, length: int, *, temperature: float, seed: int
) -> list[str]:
    """`n` texts of `length` words from `transition` sampled at `temperature` (seeded)."""
    ids = sample_chain(transition, n, length, torch.Generator().manual_seed(seed), temperature=temperature)
    return [" ".join(words[i] for i in row) for row in ids.tolist()]


def train_chain_backbone(texts: list[str], tokenizer, *, steps: int, batch_size: int, learning_rate: float, seed: int):
    """A tiny `LlamaForCausalLM` trained by next-token prediction on `texts` (AdamW, seeded); returned in eval mode."""
    from transformers import LlamaForCausalLM, set_seed

    from hf_methods.common.tiny import tiny_llama_config

    set_seed(seed)
    config = tiny_llama_config(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=1, eos_token_id=2
    )
    model = LlamaForCausalLM(config)
    ids = tokenizer(texts, return_tensors="pt", padding=True)["input_ids"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = ids[torch.randint(0, len(ids), (batch_size,), generator=order)]
        loss = model(input_ids=batch, labels=batch.masked_fill(batch == tokenizer.pad_token_id, -100)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval()
