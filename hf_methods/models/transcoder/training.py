"""Training pieces shared by `recipes/transcoder.py`, the claim check and the tests.

- [`tiny_gpt2_config`] / [`markov_sequences`] / [`train_language_model`]: a small GPT-2 trained in code on a sparse
  Markov-chain language (the base model of the CPU experiments);
- [`train_transcoder`]: the official training loop on harvested (MLP input, MLP output) pairs — Adam, constant LR
  with linear warm-up, decoder rows renormalised and their parallel gradient removed every step;
- [`reconstruction_metrics`]: fraction of variance unexplained, mean L0 and dead features;
- [`TranscoderArguments`]: the recipe's arguments (`args.transcoder_config(d_model)` builds the `TranscoderConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import TrainerCallback

from hf_methods.common.markov import sample_chain, sparse_chain
from hf_methods.harness.recipe import RecipeArguments

from .configuration_transcoder import TranscoderConfig

__all__ = [
    "DecoderNormCallback",
    "TranscoderArguments",
    "markov_sequences",
    "reconstruction_metrics",
    "tiny_gpt2_config",
    "train_language_model",
    "train_transcoder",
]


def tiny_gpt2_config(vocab_size: int = 64, **overrides):
    """A small GPT-2 config (n_embd 64, 2 layers, 4 heads, 64 positions), no dropout."""
    from transformers import GPT2Config

    kwargs = dict(
        vocab_size=vocab_size,
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    kwargs.update(overrides)
    return GPT2Config(**kwargs)


def markov_sequences(
    vocab_size: int,
    num_sequences: int,
    length: int,
    *,
    seed: int,
    successor_probs: tuple[float, ...] = (0.5, 0.25, 0.15, 0.1),
    chain_seed: int = 0,
) -> torch.LongTensor:
    """`(num_sequences, length)` tokens of a sparse Markov chain (each token has a few likely successors).

    The chain is drawn from `chain_seed` (the language), the sequences from `seed` (the sample).
    """
    if vocab_size < len(successor_probs):
        raise ValueError(f"`vocab_size` must be >= {len(successor_probs)}, got {vocab_size}.")
    transition = sparse_chain(vocab_size, list(successor_probs), seed=chain_seed)
    return sample_chain(transition, num_sequences, length, torch.Generator().manual_seed(seed))


def train_language_model(
    model, input_ids: torch.LongTensor, *, steps: int, batch_size: int = 32, learning_rate: float = 3e-3, seed: int = 0
) -> list[float]:
    """Trains a causal LM on `input_ids` with AdamW (cosine decay); returns the loss of each step. Leaves it in eval."""
    from transformers import get_scheduler

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=min(50, steps // 10), num_training_steps=steps)
    model.train()
    losses = []
    for _ in range(steps):
        batch = input_ids[torch.randint(0, input_ids.shape[0], (batch_size,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def reconstruction_metrics(transcoder, inputs: torch.Tensor, outputs: torch.Tensor, batch_size: int = 4096) -> dict:
    """Fidelity and sparsity of a transcoder on held-out (MLP input, MLP output) pairs.

    - `fvu`: fraction of variance unexplained Σ_t ‖ŷ_t − y_t‖² / Σ_t ‖y_t − ȳ‖²;
    - `l0`: mean number of active features per token;
    - `dead_fraction`: fraction of features active on no token;
    - `reconstruction_loss`: the normalised MSE term of the training objective.
    """
    was_training = transcoder.training
    transcoder.eval()
    squared_error, recon, l0, count = 0.0, 0.0, 0.0, 0
    fired = torch.zeros(transcoder.config.d_sae, dtype=torch.bool)
    for start in range(0, inputs.shape[0], batch_size):
        x, y = inputs[start : start + batch_size], outputs[start : start + batch_size]
        out = transcoder(x, labels=y)
        squared_error += (out.mlp_output - y).pow(2).sum().item()
        recon += out.reconstruction_loss.item() * x.shape[0]
        active = out.feature_activations > 0
        l0 += active.sum().item()
        fired |= active.any(dim=0).cpu()
        count += x.shape[0]
    variance = (outputs - outputs.mean(dim=0)).pow(2).sum().item()
    transcoder.train(was_training)
    return {
        "fvu": squared_error / variance,
        "l0": l0 / count,
        "dead_fraction": 1.0 - fired.float().mean().item(),
        "reconstruction_loss": recon / count,
    }


def train_transcoder(
    transcoder,
    inputs: torch.Tensor,
    outputs: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 1024,
    learning_rate: float = 4e-4,
    warmup_steps: int = 100,
    seed: int = 0,
    eval_every: int = 0,
    eval_data: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[dict]:
    """Trains `transcoder` on (MLP input, MLP output) pairs as the official trainer does (ghost gradients aside).

    b_dec / b_dec_out start at the data means; each step draws `batch_size` random tokens, renormalises the decoder
    rows, takes the gradient of [`transcoder_loss`], removes its component parallel to the decoder rows and steps
    Adam under a constant learning rate with linear warm-up (`transformers.get_scheduler("constant_with_warmup")`).

    Returns:
        `list[dict]`: every `eval_every` steps (and at the end), the step, the batch loss and, with `eval_data`, its
        [`reconstruction_metrics`].
    """
    from transformers import get_scheduler

    if inputs.shape[0] != outputs.shape[0] or inputs.shape[0] == 0:
        raise ValueError(
            f"`inputs` and `outputs` must hold the same number (> 0) of tokens, got {inputs.shape[0]}, "
            f"{outputs.shape[0]}."
        )
    generator = torch.Generator().manual_seed(seed)
    transcoder.initialize_biases_(inputs, outputs)
    optimizer = torch.optim.Adam(transcoder.parameters(), lr=learning_rate)
    scheduler = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=warmup_steps)
    transcoder.train()
    history = []
    for step in range(steps):
        transcoder.normalize_decoder_()
        index = torch.randint(0, inputs.shape[0], (batch_size,), generator=generator)
        loss = transcoder(inputs[index], labels=outputs[index]).loss
        loss.backward()
        transcoder.remove_parallel_decoder_grad_()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        last = step + 1 == steps
        if last or (eval_every and (step + 1) % eval_every == 0):
            entry = {"step": step + 1, "loss": loss.item()}
            if eval_data is not None:
                entry.update(reconstruction_metrics(transcoder, *eval_data))
            history.append(entry)
    transcoder.normalize_decoder_()  # the saved decoder rows are unit-norm, as after every official step
    transcoder.eval()
    return history


class DecoderNormCallback(TrainerCallback):
    """Keeps a [`TranscoderModel`]'s decoder rows on the unit sphere when it is trained with `transformers.Trainer`.

    Before each optimizer step it removes the gradient component parallel to each decoder row; after it, it
    renormalises the rows (what [`train_transcoder`] and the official trainer do around every step).
    """

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        model.remove_parallel_decoder_grad_()

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        model.normalize_decoder_()


MODEL_CHOICES = (
    "'tiny-gpt2' (a small GPT-2 trained here on the Markov language), 'tiny', 'smollm2-135m-instruct', a path"
)


@dataclass
class TranscoderArguments(RecipeArguments):
    max_steps: int = field(default=1000, metadata={"help": "Transcoder optimisation steps."})
    model_name_or_path: str = field(default="tiny-gpt2", metadata={"help": f"Language model: {MODEL_CHOICES}."})
    layer: int = field(default=1, metadata={"help": "Decoder block whose MLP the transcoder imitates."})
    expansion: int = field(default=8, metadata={"help": "Features per model dimension (d_sae = expansion·d_model)."})
    l1_coeff: float = field(
        default=3e-3,
        metadata={"help": "Sparsity coefficient λ of the L1 penalty (the paper: 1.4e-4 at GPT-2-small scale)."},
    )
    learning_rate: float = field(
        default=1e-3, metadata={"help": "Adam learning rate, constant after warm-up (the paper: 4e-4)."}
    )
    warmup_steps: int = field(default=100, metadata={"help": "Linear warm-up steps of the learning rate."})
    batch_size: int = field(default=1024, metadata={"help": "Tokens per transcoder step."})
    vocab_size: int = field(default=64, metadata={"help": "Tokens of the Markov language (ids 0..vocab_size-1)."})
    num_sequences: int = field(default=4000, metadata={"help": "Harvested sequences (and LM training sequences)."})
    seq_len: int = field(default=32, metadata={"help": "Tokens per sequence."})
    eval_sequences: int = field(default=200, metadata={"help": "Held-out sequences for FVU, L0 and splice CE."})
    lm_steps: int = field(default=400, metadata={"help": "Training steps of the 'tiny-gpt2' language model."})

    def validate(self) -> None:
        super().validate()
        for name in ("expansion", "batch_size", "num_sequences", "eval_sequences", "lm_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.seq_len < 2:
            raise ValueError(f"--seq_len must be >= 2, got {self.seq_len}")
        if self.vocab_size < 4:
            raise ValueError(f"--vocab_size must be >= 4, got {self.vocab_size}")
        if self.layer < 0:
            raise ValueError(f"--layer must be >= 0, got {self.layer}")
        if self.warmup_steps < 0:
            raise ValueError(f"--warmup_steps must be >= 0, got {self.warmup_steps}")
        if not self.l1_coeff >= 0:
            raise ValueError(f"--l1_coeff must be >= 0, got {self.l1_coeff}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")

    def transcoder_config(self, d_model: int) -> TranscoderConfig:
        """The `TranscoderConfig` of this run for a model of hidden size `d_model`."""
        return TranscoderConfig(
            d_in=d_model,
            expansion=self.expansion,
            l1_coeff=self.l1_coeff,
            layer=self.layer,
            base_model_name=self.model_name_or_path,
        )
