"""Inference-time strategies for `generate()` and the forward pass: `custom_generate` functions, `LogitsProcessor`s
and attention functions registered with transformers' `AttentionInterface` (and `AttentionMaskInterface`), plus the
small trained heads some of them draft with.

A strategy leaves the model's weights as they are and works with the causal language models of `transformers`;
where the paper says it changes nothing (e.g. lossless speculative decoding), its tests compare it with the plain
model on the same kernel path. How to add one: CONTRIBUTING.md.
"""
