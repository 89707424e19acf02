"""The tiny text side of the digits text-to-image model: a word-level tokenizer, a `CLIPTextModel` built from a
config, and the text encoder called on word embeddings (the entry point of a soft-prompt attack).

Stable Diffusion conditions its U-Net on the last hidden states of a CLIP text encoder; the tiny stack here does the
same at 8×8: prompts such as "a photo of the digit three" are tokenized by a word-level `tokenizers` model wrapped in a
`PreTrainedTokenizerFast`, encoded by a one- or two-layer `CLIPTextModel`, and the `(batch, length, width)` hidden states
go to a diffusers `UNet2DConditionModel` through cross-attention. Everything is built in code; nothing is downloaded.
"""

from __future__ import annotations

import torch

from hf_methods.common.checks import check_positive_int

__all__ = [
    "DIGIT_NUMERALS",
    "DIGIT_WORDS",
    "PROMPT_TEMPLATES",
    "TextConditionedUNet",
    "digit_prompts",
    "digit_tokenizer",
    "encode_text",
    "tiny_clip_text_encoder",
    "tokenize",
]

#: The digits as words and as numerals; a prompt names a digit one way or the other.
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_NUMERALS = tuple(str(d) for d in range(10))
#: Prompt templates: `{word}` takes a digit word, `{numeral}` its numeral.
PROMPT_TEMPLATES = (
    "a photo of the digit {word}",
    "the number {word}",
    "a drawing of a {word}",
    "handwritten {numeral}",
    "{word}",
)
_FILLER_WORDS = ("a", "an", "the", "of", "photo", "digit", "number", "drawing", "picture", "handwritten", "image")
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
#: Token positions of every prompt: <bos>, up to 6 words, <eos>, room for a 2-token adversarial prefix.
MAX_LENGTH = 10


def digit_prompts(digit: int, templates: tuple[str, ...] = PROMPT_TEMPLATES) -> list[str]:
    """Every prompt of `templates` naming `digit` (e.g. 3 → "a photo of the digit three", ..., "handwritten 3")."""
    if not isinstance(digit, int) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an int in [0, 9], got {digit!r}")
    return [t.format(word=DIGIT_WORDS[digit], numeral=DIGIT_NUMERALS[digit]) for t in templates]


def digit_tokenizer(max_length: int = MAX_LENGTH):
    """A word-level `PreTrainedTokenizerFast` over the digit prompts' vocabulary (`<bos>` … `<eos>`, padded with `<pad>`).

    Calling it with `padding="max_length"` gives `(batch, max_length)` ids, as CLIP's tokenizer gives Stable Diffusion.
    The empty prompt "" is `<bos> <eos>` (the unconditional prompt of classifier-free guidance).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    check_positive_int("max_length", max_length)
    words = list(SPECIAL_TOKENS) + list(_FILLER_WORDS) + list(DIGIT_WORDS) + list(DIGIT_NUMERALS)
    vocab = {word: index for index, word in enumerate(words)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", vocab["<bos>"]), ("<eos>", vocab["<eos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=max_length,
    )


def tokenize(tokenizer, prompts: str | list[str]) -> torch.Tensor:
    """`(batch, model_max_length)` input ids of `prompts`, padded to the tokenizer's full length (as CLIP's is)."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompts must be a string or a non-empty list of strings")
    ids = tokenizer(prompts, padding="max_length", truncation=True, return_tensors="pt").input_ids
    return ids


def tiny_clip_text_encoder(
    tokenizer, *, hidden_size: int = 32, num_hidden_layers: int = 2, num_attention_heads: int = 2
):
    """A small `CLIPTextModel` for `tokenizer` (random weights; `save_pretrained` / `from_pretrained` as usual)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    for name, value in (("hidden_size", hidden_size), ("num_hidden_layers", num_hidden_layers)):
        check_positive_int(name, value)
    if hidden_size % check_positive_int("num_attention_heads", num_attention_heads):
        raise ValueError(
            f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads})"
        )
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        projection_dim=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        max_position_embeddings=tokenizer.model_max_length,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return CLIPTextModel(config)


def encode_text(
    text_encoder, input_ids: torch.Tensor | None = None, *, inputs_embeds: torch.Tensor | None = None
) -> torch.Tensor:
    """The conditioning of the U-Net: the text encoder's last hidden states `(batch, length, width)`.

    `CLIPTextModel.forward` takes token ids only; a soft-prompt attack needs the same computation from *word
    embeddings* (`inputs_embeds`, before the position embeddings), as the official code's custom text encoder does:
    position embeddings are added, the causal transformer and the final layer norm are applied, exactly as the
    model's forward does for ids.

    Args:
        text_encoder: a `CLIPTextModel`.
        input_ids: `(batch, length)` token ids (the plain forward).
        inputs_embeds: `(batch, length, width)` word embeddings instead of ids.
    """
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("give exactly one of input_ids and inputs_embeds")
    if input_ids is not None:
        return text_encoder(input_ids=input_ids).last_hidden_state
    from transformers.masking_utils import create_causal_mask

    if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != text_encoder.config.hidden_size:
        raise ValueError(
            f"inputs_embeds must have shape (batch, length, {text_encoder.config.hidden_size}), "
            f"got {tuple(inputs_embeds.shape)}"
        )
    hidden = text_encoder.embeddings(inputs_embeds=inputs_embeds)
    mask = create_causal_mask(config=text_encoder.config, inputs_embeds=hidden, attention_mask=None, cache=None)
    hidden = text_encoder.encoder(inputs_embeds=hidden, attention_mask=mask, is_causal=True).last_hidden_state
    return text_encoder.final_layer_norm(hidden)


class TextConditionedUNet(torch.nn.Module):
    """A text-to-image denoiser `f(x_t, t, input_ids)`: the text encoder's hidden states feed the U-Net's cross-attention.

    Used to train the base model (U-Net and text encoder together) with `hf_methods.common.diffusion.train_denoiser`;
    unlearning then freezes the U-Net and trains a copy of the text encoder only.
    """

    def __init__(self, unet, text_encoder):
        super().__init__()
        self.unet, self.text_encoder = unet, text_encoder

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        hidden = encode_text(self.text_encoder, input_ids)
        return self.unet(sample, timestep, encoder_hidden_states=hidden).sample
