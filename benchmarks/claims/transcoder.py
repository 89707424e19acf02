"""Claim of P31 (Dunefsky, Chlenski, Nanda, NeurIPS 2024): transcoders are faithful, sparse MLP replacements whose
feature-to-feature attributions factor into an input-dependent and an input-invariant term.

Paper: transcoders trained on 120M–1.4B-parameter LMs are on par with SAEs on the sparsity–fidelity frontier, and the
attribution of an upstream feature i to a downstream feature j through the residual stream is
z_i(x) · (W_dec[i] · W_enc[:, j]). This CPU check keeps that intent on a model trained here:

- base model: a 2-layer GPT-2 (n_embd 64, 4 heads, vocab 64) trained for 600 AdamW steps on a sparse Markov-chain
  language (each token has 4 successors with probabilities 0.5/0.25/0.15/0.1);
- data: 200k tokens (6250 sequences of 32) of MLP-1 inputs (post-`ln_2`) and outputs harvested with forward hooks;
  200 held-out sequences (6400 tokens) for every metric;
- transcoder: d_sae = 512, λ = 3e-3, Adam lr 1e-3 with 100 warm-up steps then constant, 1500 steps of 1024 tokens,
  decoder rows renormalised every step (as the official trainer; no ghost gradients). λ was chosen on a pilot run
  with seed 100 (a different LM, data and transcoder seed from the claim's seeds), before any claim run.

Rules (means over seeds 0, 1, 2), fixed before the first run:
(a) fraction of variance unexplained of MLP-1's output < 0.2 at a mean L0 < 40;
(b) splicing the transcoder in for MLP-1 raises the LM's cross-entropy by less than 30% of the increase caused by
    zero-ablating MLP-1, and the spliced CE is below the ablated CE (whole bootstrap interval);
(c) the attribution z_i·s_t·(P W_dec⁰[i])·(g ⊙ W_enc¹[:, j]) of a layer-0 transcoder's features to a layer-1
    transcoder's pre-activations equals autograd's gradient × input along the direct residual path (layer-1 `ln_2`
    with its scale frozen; float64) to within 1e-5 (max absolute error over tokens and pairs).
Informational (no rule): SAEs on the MLP output (same class, inputs = targets = MLP-1 output) and transcoders at
λ ∈ {1e-3, 3e-3, 1e-2}, drawn as the L0 versus CE-increase frontier.

Run: `python benchmarks/claims/transcoder.py [--smoke]`; writes `benchmarks/results/transcoder.json` and the plots
`transcoder-training.png`, `transcoder-frontier.png`.
"""

from __future__ import annotations

import contextlib

import torch

from hf_methods.harness.claims import Claim, Compare, Threshold

CLAIM = Claim(
    slug="transcoder",
    seeds=[0, 1, 2],
    settings={
        "base_model": "GPT-2 n_embd=64, n_layer=2, n_head=4, vocab 64, 64 positions, no dropout",
        "language": "sparse Markov chain, successor probs [0.5, 0.25, 0.15, 0.1], chain seed 0",
        "seq_len": 32,
        "lm_train_sequences": 6000,
        "lm_steps": 600,
        "lm_batch_size": 32,
        "lm_learning_rate": 3e-3,
        "harvest_sequences": 6250,
        "eval_sequences": 200,
        "layer": 1,
        "upstream_layer": 0,
        "d_sae": 512,
        "l1_coeff": 3e-3,
        "frontier_l1_coeffs": [1e-3, 3e-3, 1e-2],
        "learning_rate": 1e-3,
        "warmup_steps": 100,
        "steps": 1500,
        "batch_size": 1024,
        "eval_every": 250,
        "attribution_sequences": 16,
        "attribution_downstream_features": 16,
        "thresholds": {"fvu": 0.2, "l0": 40, "ce_increase_fraction": 0.3, "attribution_max_abs_error": 1e-5},
    },
    smoke={
        "lm_steps": 40,
        "harvest_sequences": 400,
        "eval_sequences": 20,
        "steps": 60,
        "eval_every": 20,
        "frontier_l1_coeffs": [3e-3],
        "attribution_sequences": 4,
    },
    rules=[
        Threshold("(a) FVU of MLP-1's output < 0.2", "fvu", "transcoder", "<", 0.2),
        Threshold("(a) mean L0 < 40", "l0", "transcoder", "<", 40),
        Threshold("(b) splice CE increase < 30% of zero-ablation's", "ce_increase_fraction", "transcoder", "<", 0.3),
        Compare(
            "(b) spliced LM CE below zero-ablated LM CE",
            metric="lm_ce",
            method="transcoder splice",
            baseline="MLP zero-ablation",
            margin=0.0,
            higher_is_better=False,
            decide_by="interval",
        ),
        Threshold(
            "(c) attribution = gradient × input along the direct path (max abs error)",
            "attribution_max_abs_error",
            "transcoder",
            "<",
            1e-5,
        ),
    ],
    task={
        "type": "feature-extraction",
        "dataset_name": "sparse Markov chain",
        "dataset_type": "synthetic",
        "split": "held-out",
    },
)


def _base_model(seed: int, s: dict):
    from transformers import GPT2LMHeadModel, set_seed

    from hf_methods.models.transcoder.training import markov_sequences, tiny_gpt2_config, train_language_model

    set_seed(seed)
    n_lm, n_harvest, n_eval = s["lm_train_sequences"], s["harvest_sequences"], s["eval_sequences"]
    ids = markov_sequences(64, max(n_lm, n_harvest) + n_eval, s["seq_len"], seed=seed)
    lm = GPT2LMHeadModel(tiny_gpt2_config())
    losses = train_language_model(
        lm,
        ids[:n_lm],
        steps=s["lm_steps"],
        batch_size=s["lm_batch_size"],
        learning_rate=s["lm_learning_rate"],
        seed=seed,
    )
    return lm, ids[:n_harvest], ids[-n_eval:], losses


@contextlib.contextmanager
def _sae_splice(lm, layer: int, sae):
    """Replaces MLP `layer`'s output y by an SAE's reconstruction of it (the SAE baseline of the paper)."""
    from hf_methods.models.transcoder.hooks import find_mlp

    handle = find_mlp(lm, layer).register_forward_hook(lambda m, a, out: sae(out).mlp_output.to(out.dtype))
    try:
        yield
    finally:
        handle.remove()


def _train(kind: str, l1: float, layer_data, eval_data, seed: int, s: dict):
    from hf_methods.models.transcoder import TranscoderConfig, TranscoderModel
    from hf_methods.models.transcoder.training import train_transcoder

    torch.manual_seed(seed)
    model = TranscoderModel(TranscoderConfig(d_in=64, d_sae=s["d_sae"], l1_coeff=l1))
    x, y = layer_data
    xe, ye = eval_data
    if kind == "sae":  # an SAE on the MLP output: reconstruct y from y
        x, xe = y, ye
    history = train_transcoder(
        model,
        x,
        y,
        steps=s["steps"],
        batch_size=s["batch_size"],
        learning_rate=s["learning_rate"],
        warmup_steps=s["warmup_steps"],
        seed=seed,
        eval_every=s["eval_every"],
        eval_data=(xe, ye),
    )
    return model, history


def _attribution_error(lm, upstream, downstream, ids, s: dict) -> dict:
    """Max |feature_attribution − autograd gradient × input| along the direct path from MLP-0 to MLP-1's encoder."""
    from hf_methods.models.transcoder.attribution import feature_attribution
    from hf_methods.models.transcoder.hooks import splice

    captured = {}
    block = lm.transformer.h[s["layer"]]
    hooks = [
        block.ln_2.register_forward_hook(lambda m, a, out: captured.__setitem__("resid", a[0].detach())),
        lm.transformer.h[s["upstream_layer"]].mlp.register_forward_hook(
            lambda m, a, out: captured.__setitem__("z", upstream.encode(a[0]).detach())
        ),
    ]
    with torch.no_grad(), splice(lm, s["upstream_layer"], upstream):
        lm(input_ids=ids)
    for h in hooks:
        h.remove()
    up, down = upstream.double(), downstream.double()
    z0, resid = captured["z"].double(), captured["resid"].double()
    ln = block.ln_2
    gain, shift = ln.weight.detach().double(), ln.bias.detach().double()
    sigma = (resid.var(dim=-1, unbiased=False, keepdim=True) + ln.eps).sqrt()  # frozen LayerNorm scale
    rest = resid - up.decode(z0)  # everything in the residual stream but the upstream transcoder's output

    z = z0.clone().requires_grad_(True)
    r = rest + up.decode(z)
    x = (r - r.mean(dim=-1, keepdim=True)) / sigma * gain + shift
    pre = down.pre_activations(x)
    features = pre.detach().relu().flatten(0, -2).sum(0).topk(s["attribution_downstream_features"]).indices
    grads = []
    for j in features.tolist():
        (grad,) = torch.autograd.grad(pre[..., j].sum(), z, retain_graph=True)
        grads.append(grad * z0)  # gradient × input; tokens are independent, so the sum's gradient is per token
    autograd = torch.stack(grads, dim=-1)
    closed = feature_attribution(
        up, down, z0, ln_weight=gain, ln_scale=1.0 / sigma[..., 0], center=True, downstream_features=features
    )
    upstream.float()
    downstream.float()
    error = (closed - autograd).abs().max().item()
    return {"max_abs_error": error, "max_abs_attribution": autograd.abs().max().item(), "pairs": autograd.numel()}


def one_seed(seed: int, s: dict) -> dict:
    from hf_methods.models.transcoder.hooks import harvest_mlp_activations, lm_cross_entropy, splice_fidelity
    from hf_methods.models.transcoder.training import reconstruction_metrics

    torch.set_num_threads(1)
    lm, harvest_ids, eval_ids, lm_losses = _base_model(seed, s)
    layer = s["layer"]
    data = harvest_mlp_activations(lm, harvest_ids, layer, batch_size=256)
    eval_data = harvest_mlp_activations(lm, eval_ids, layer, batch_size=256)
    result = {"lm_final_loss": sum(lm_losses[-20:]) / min(20, len(lm_losses)), "frontier": {}}
    main = None
    for l1 in s["frontier_l1_coeffs"]:
        for kind in ("transcoder", "sae"):
            model, history = _train(kind, l1, data, eval_data, seed, s)
            xe = eval_data[1] if kind == "sae" else eval_data[0]
            metrics = reconstruction_metrics(model, xe, eval_data[1])
            if kind == "transcoder":
                fidelity = splice_fidelity(lm, model, eval_ids, layer, batch_size=256).to_dict()
            else:
                with _sae_splice(lm, layer, model):
                    spliced = lm_cross_entropy(lm, eval_ids, batch_size=256)
                fidelity = {"spliced_ce": spliced}
            result["frontier"][f"{kind}@{l1:g}"] = {**metrics, **fidelity, "history": history}
            if kind == "transcoder" and l1 == s["l1_coeff"]:
                main = model
    base = result["frontier"][f"transcoder@{s['l1_coeff']:g}"]
    for key, entry in result["frontier"].items():
        if key.startswith("sae"):
            entry["clean_ce"], entry["ablated_ce"] = base["clean_ce"], base["ablated_ce"]
            entry["ce_increase_fraction"] = (entry["spliced_ce"] - base["clean_ce"]) / (
                base["ablated_ce"] - base["clean_ce"]
            )
    # (c): a layer-0 transcoder upstream of the main (layer-1) transcoder
    up_data = harvest_mlp_activations(lm, harvest_ids, s["upstream_layer"], batch_size=256)
    up_eval = harvest_mlp_activations(lm, eval_ids, s["upstream_layer"], batch_size=256)
    upstream, _ = _train("transcoder", s["l1_coeff"], up_data, up_eval, seed, s)
    result["upstream_metrics"] = reconstruction_metrics(upstream, *up_eval)
    result["attribution"] = _attribution_error(lm, upstream, main, eval_ids[: s["attribution_sequences"]], s)
    return result


def run(claim):
    s = claim.settings
    curves = {"transcoder FVU": {}, "SAE FVU": {}}
    frontier = {}
    for seed in claim.seeds:
        r = claim.cached(f"seed{seed}", one_seed, seed, s)
        unit = f"seed{seed}"
        main = r["frontier"][f"transcoder@{s['l1_coeff']:g}"]
        claim.record("transcoder", "fvu", main["fvu"], unit=unit)
        claim.record("transcoder", "l0", main["l0"], unit=unit)
        claim.record("transcoder", "dead_fraction", main["dead_fraction"], unit=unit)
        claim.record("transcoder", "ce_increase_fraction", main["ce_increase_fraction"], unit=unit)
        claim.record("clean", "lm_ce", main["clean_ce"], unit=unit)
        claim.record("transcoder splice", "lm_ce", main["spliced_ce"], unit=unit)
        claim.record("MLP zero-ablation", "lm_ce", main["ablated_ce"], unit=unit)
        claim.record("transcoder", "attribution_max_abs_error", r["attribution"]["max_abs_error"], unit=unit)
        claim.record("transcoder", "attribution_max_abs_value", r["attribution"]["max_abs_attribution"], unit=unit)
        claim.record("layer-0 transcoder", "fvu", r["upstream_metrics"]["fvu"], unit=unit)
        claim.record("layer-0 transcoder", "l0", r["upstream_metrics"]["l0"], unit=unit)
        sae = r["frontier"][f"sae@{s['l1_coeff']:g}"]
        claim.record("SAE (same λ)", "fvu", sae["fvu"], unit=unit)
        claim.record("SAE (same λ)", "l0", sae["l0"], unit=unit)
        claim.record("SAE (same λ)", "ce_increase_fraction", sae["ce_increase_fraction"], unit=unit)
        curves["transcoder FVU"][unit] = [(h["step"], h["fvu"]) for h in main["history"]]
        curves["SAE FVU"][unit] = [(h["step"], h["fvu"]) for h in sae["history"]]
        for key, entry in r["frontier"].items():
            frontier.setdefault(key, []).append((entry["l0"], entry["ce_increase_fraction"]))
    claim.details["frontier"] = {k: v for k, v in frontier.items()}
    claim.plot_curves(
        "training",
        curves,
        xlabel="step",
        ylabel="held-out FVU of MLP-1 output",
        title=f"transcoder vs SAE (d_sae {s['d_sae']}, λ {s['l1_coeff']:g}), mean ± std over seeds",
    )
    _plot_frontier(claim, frontier)
    claim.note(
        "Base model: a 2-layer GPT-2 trained in code on a sparse Markov chain (SmolLM2 would not fit the CPU budget "
        "for 200k harvested tokens). λ = 3e-3 was set from a pilot with seed 100 (the paper's 1.4e-4 belongs to its "
        "GPT-2-small scale and normalisation). No ghost gradients. The SAE rows are informational (same λ is not "
        "matched L0)."
    )


def _plot_frontier(claim, frontier):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for kind, marker in (("transcoder", "o"), ("sae", "s")):
        points = sorted(
            (sum(l0 for l0, _ in v) / len(v), sum(f for _, f in v) / len(v), k)
            for k, v in frontier.items()
            if k.startswith(kind)
        )
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker=marker,
            label=kind.upper() if kind == "sae" else kind,
        )
        for l0, frac, key in points:
            ax.annotate("λ=" + key.split("@")[1], (l0, frac), fontsize=7)
    ax.set_xlabel("mean L0 (held-out tokens)")
    ax.set_ylabel("CE increase / zero-ablation increase")
    ax.set_title("sparsity vs fidelity of MLP-1 replacements (means over seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(claim.plot_path("frontier"), dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    CLAIM.main(run)
