"""Recipe for P31 `transcoder`: train a transcoder that imitates one MLP sublayer of a causal LM.

Dunefsky, Chlenski, Nanda, "Transcoders Find Interpretable LLM Feature Circuits" (NeurIPS 2024). The recipe harvests
(MLP input, MLP output) pairs of decoder block `--layer` with forward hooks (the input is the post-LayerNorm residual
stream), then trains z = ReLU(W_encᵀ(x − b_dec) + b_enc), ŷ = W_decᵀz + b_dec_out on
mean[(ŷ − y)²/‖y‖₂] + λ·mean‖z‖₁ with Adam (constant learning rate after a linear warm-up), renormalising the
decoder rows every step as the official trainer does. It reports the held-out fraction of variance unexplained, the
mean L0, and the LM's cross-entropy with the transcoder spliced in, against zero-ablating the MLP.

Embedded offline default: `--model_name_or_path tiny-gpt2` trains a 2-layer GPT-2 (n_embd 64) for `--lm_steps` on a
sparse Markov-chain language, whose sequences are also the harvested data. Any transformers causal LM with
`block.mlp` modules works (GPT-2, Llama, SmolLM2, ...): the harvested tokens are then Markov sequences over its first
`--vocab_size` token ids.

Usage:

```bash
accelerate launch recipes/transcoder.py                                          # tiny GPT-2, MLP-1, ~1 min
accelerate launch recipes/transcoder.py --l1_coeff 3e-3 --expansion 8 --max_steps 1500
accelerate launch recipes/transcoder.py --model_name_or_path smollm2-135m-instruct --layer 15 --vocab_size 4096 \
    --num_sequences 2000 --seq_len 64 --expansion 4
accelerate launch recipes/transcoder.py --resume_from_checkpoint latest
```

The output folder (default `outputs/transcoder`) loads anywhere with
`AutoModel.from_pretrained(folder, trust_remote_code=True)`; splice it back with
`hf_methods.splice(lm, layer=config.layer, transcoder=model)`.
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.transcoder.training import TranscoderArguments

SLUG = "transcoder"

__all__ = ["TranscoderArguments", "main"]


def _language_model(args: TranscoderArguments, ids: torch.LongTensor):
    """`(model, hub_id)`: the tiny GPT-2 trained here on `ids`, or a causal LM loaded offline."""
    if args.model_name_or_path == "tiny-gpt2":
        from transformers import GPT2LMHeadModel, set_seed

        from hf_methods.models.transcoder.training import tiny_gpt2_config, train_language_model

        set_seed(args.seed)
        lm = GPT2LMHeadModel(tiny_gpt2_config(args.vocab_size, n_positions=max(64, args.seq_len)))
        train_language_model(lm, ids, steps=args.lm_steps, seed=args.seed)
        return lm, None
    from hf_methods.common.data import load_causal_lm

    lm, _, hub_id = load_causal_lm(args.model_name_or_path)
    if args.vocab_size > lm.config.vocab_size:
        raise ValueError(f"--vocab_size {args.vocab_size} exceeds the model's vocabulary ({lm.config.vocab_size})")
    return lm.eval(), hub_id


def main(argv=None):
    from transformers import get_scheduler

    from hf_methods.models.transcoder.hooks import harvest_mlp_activations, splice_fidelity
    from hf_methods.models.transcoder.modeling_transcoder import TranscoderModel
    from hf_methods.models.transcoder.training import markov_sequences, reconstruction_metrics

    args = parse_recipe_args(TranscoderArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    ids = markov_sequences(args.vocab_size, args.num_sequences + args.eval_sequences, args.seq_len, seed=args.seed)
    train_ids, eval_ids = ids[: args.num_sequences], ids[args.num_sequences :]
    lm, hub_id = _language_model(args, train_ids)
    lm.requires_grad_(False)
    x, y = harvest_mlp_activations(lm, train_ids, args.layer)
    eval_data = harvest_mlp_activations(lm, eval_ids, args.layer)
    runner.print(f"[{SLUG}] harvested {x.shape[0]} tokens of MLP {args.layer} ({x.shape[1]} → {y.shape[1]} dims)")

    model = TranscoderModel(args.transcoder_config(x.shape[1]))
    model.initialize_biases_(x, y)  # b_dec, b_dec_out ← data means (official "mean" init)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    scheduler = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=args.warmup_steps)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=args.batch_size, shuffle=True, drop_last=x.shape[0] > 0
    )
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(scheduler)  # stepped once per optimisation step by us
    start = runner.resume()
    unwrapped = runner.accelerator.unwrap_model(model)
    model.train()
    for step, (inputs, targets) in runner.steps(loader, start):
        unwrapped.normalize_decoder_()
        out = model(inputs=inputs, labels=targets)
        runner.accelerator.backward(out.loss)
        unwrapped.remove_parallel_decoder_grad_()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        l0 = (out.feature_activations > 0).float().sum(-1).mean()
        runner.log({"train/loss": out.loss, "train/reconstruction": out.reconstruction_loss, "train/l0": l0}, step)
        runner.maybe_checkpoint(step)
    unwrapped.normalize_decoder_()
    unwrapped.eval()

    eval_inputs, eval_targets = (t.to(unwrapped.device) for t in eval_data)
    metrics = {f"eval/{k}": v for k, v in reconstruction_metrics(unwrapped, eval_inputs, eval_targets).items()}
    lm.to(unwrapped.device)
    fidelity = splice_fidelity(lm, unwrapped, eval_ids, args.layer).to_dict()
    metrics.update({f"eval/{k}": v for k, v in fidelity.items()})
    runner.finish(model, metrics=metrics, base_model=hub_id)
    return metrics


if __name__ == "__main__":
    main()
