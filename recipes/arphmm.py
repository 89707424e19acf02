"""Recipe for P05 `arphmm`: fit an autoregressive partially-hidden Markov model by EM and predict the RUL.

Juesas, Ramasso, Drujont, Placet, "Autoregressive Hidden Markov Models with partial knowledge on latent space applied
to aero-engines prognostics" (PHME 2016). The data are synthetic run-to-failure units built in code (CMAPSS is not
available offline): four left-to-right degradation states with their own AR(2) dynamics plus a slow drift. The
training units carry soft plausibilities of their states (1 for the true one, U(0.1, 0.5) for the others,
`--unknown_fraction` of the steps without any prior); `--no_plausibilities` fits the plain ARHMM instead. EM runs
up to `--max_iter` iterations (`--max_steps` is not used: EM has no step loop), then the per-state RUL regressions
are fitted, and the held-out units give the state-decoding accuracy and the online RUL RMSE.

Usage:

```bash
accelerate launch recipes/arphmm.py                           # ARPHMM, 20 training units, 10 held-out units
accelerate launch recipes/arphmm.py --no_plausibilities       # the plain ARHMM
accelerate launch recipes/arphmm.py --ar_order 3 --unknown_fraction 0.6 --max_iter 50
```

The output folder (default `outputs/arphmm`) loads anywhere with
`AutoModel.from_pretrained(folder, trust_remote_code=True)`.
"""

from __future__ import annotations

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.arphmm.training import ARPHMMArguments, evaluate, make_units

SLUG = "arphmm"

__all__ = ["ARPHMMArguments", "main"]


def main(argv=None):
    from hf_methods.models.arphmm.modeling_arphmm import ARPHMMModel

    args = parse_recipe_args(ARPHMMArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    train, pls = make_units(args.num_train, args.min_length, args.max_length, args.unknown_fraction, seed=args.seed)
    test, _ = make_units(args.num_test, args.min_length, args.max_length, 0.0, seed=args.seed + 1000)
    pls = None if args.no_plausibilities else pls
    model = runner.prepare(ARPHMMModel(args.arphmm_config()))
    unwrapped = runner.accelerator.unwrap_model(model)
    # EM is deterministic and cheap: every process fits the same model
    signals = [u.signal for u in train]
    unwrapped.fit(signals, pls, max_iter=args.max_iter, tol=args.tol)
    unwrapped.fit_rul(signals, [u.rul for u in train], pls)
    for iteration, log_likelihood in enumerate(unwrapped.fit_history):
        runner.log({"train/log_likelihood": log_likelihood}, step=iteration, force=True)
    result = evaluate(unwrapped.eval(), test)
    metrics = {
        "eval/state_accuracy": result["state_accuracy"],
        "eval/rul_rmse": result["rul_rmse"],
        "train/em_iterations": len(unwrapped.fit_history),
        "train/log_likelihood": unwrapped.fit_history[-1],
    }
    runner.print(f"[{SLUG}] EM: {len(unwrapped.fit_history)} iterations; {metrics}")
    runner.finish(model, metrics=metrics, datasets=None, base_model=None)
    return metrics


if __name__ == "__main__":
    main()
