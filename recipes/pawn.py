"""Train a PAWN machine-written-text detector (P08) on cached backbone features.

    accelerate launch recipes/pawn.py                                  # SmolLM2-135M backbone, committed data set
    accelerate launch recipes/pawn.py --model_name_or_path tiny --max_steps 20   # seconds: in-code tiny Llama
    accelerate launch recipes/pawn.py --dataset_name_or_path my.jsonl  # rows {"text": ..., "label": 0/1}
    accelerate launch recipes/pawn.py --resume_from_checkpoint latest

Steps: load the data (default `data/pawn/detection.jsonl`; or `--dataset_name_or_path`, a JSON/JSONL file or
`datasets` name with `text` and `label` fields, 1 = machine); with a `domain` field keep `--train_domains`, split
their openings into train / in-domain eval (`--eval_fraction`) and use `--eval_domain` as the unseen domain, without
one hold out `--eval_fraction` of the rows; run the frozen backbone (`--model_name_or_path`) once over every text
with `datasets.map` (cached under `--feature_cache_dir`, recomputed when the backbone, tokenizer or `--max_length`
changes); standardise the metrics with training statistics; train only the heads (AdamW, clip 1, label smoothing
0.2, 15 % token dropout: the paper's Table 1); pick the decision threshold on the training documents and store it in
the config (`decision_threshold`, applied by the model's two-class logits, so `pipeline("text-classification")`
answers `human` / `machine` by it); evaluate AUROC / macro-F1 / recall at 5 % FPR; write a Hub-ready folder (head
weights, config naming the backbone, remote code, tokenizer, card naming the base and the data). The backbone is not
saved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.pawn.training import PawnArguments, build_backbone, load_detection_data, split

SLUG = "pawn"

__all__ = ["PawnArguments", "main"]


def main(argv=None):
    args = parse_recipe_args(PawnArguments, argv, slug=SLUG)

    from hf_methods.common.data import cache_dir
    from hf_methods.models.pawn import (
        PawnFeatureCollator,
        PawnForSequenceClassification,
        cache_pawn_features,
        fit_metric_normalization,
        predict_logits,
    )
    from hf_methods.models.pawn.baselines import best_threshold, detection_metrics

    data, data_name = load_detection_data(args)  # before the backbone: a bad file fails in seconds
    idx = split(data, args)
    runner = RecipeRunner(args, slug=SLUG)
    backbone_kwargs, lm, tokenizer, base_id = build_backbone(args)
    config = args.pawn_config(**backbone_kwargs)
    model = PawnForSequenceClassification(config, backbone=lm)

    feature_dir = Path(args.feature_cache_dir) if args.feature_cache_dir else cache_dir() / "pawn-features"
    with runner.accelerator.main_process_first():  # one process computes the cache, the others read it
        feats = cache_pawn_features(data, model, tokenizer, batch_size=args.feature_batch_size, cache_dir=feature_dir)
    train = feats.select(idx["train"])
    fit_metric_normalization(train, model)
    runner.print(f"[{SLUG}] {len(train)} training documents, features of {len(feats)} cached in {feature_dir}")

    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, collate_fn=PawnFeatureCollator())
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=args.learning_rate, weight_decay=args.weight_decay
    )
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        loss = model(**batch).loss
        runner.accelerator.backward(loss)
        runner.accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)

    detector = runner.accelerator.unwrap_model(model).eval()
    labels = np.array(data["label"])
    threshold = best_threshold(predict_logits(detector, train).numpy(), labels[idx["train"]])
    metrics = {}
    for name in ("in_domain", "unseen_domain"):
        if idx[name]:
            scores = predict_logits(detector, feats.select(idx[name])).numpy()
            for k, v in detection_metrics(scores, labels[idx[name]], threshold).items():
                metrics[f"eval/{name}/{k}"] = v
    detector.config.decision_threshold = float(threshold)  # logit threshold chosen on the training set
    runner.log(metrics, runner.step, force=True)
    runner.print(f"[{SLUG}] " + ", ".join(f"{k} = {v:.3f}" for k, v in metrics.items()))
    user_data = args.dataset_name_or_path is not None
    runner.finish(
        detector,
        metrics=metrics,
        tokenizer=tokenizer,
        base_model=base_id,  # the backbone's Hub id; 'tiny' and local folders show in the card's command
        datasets=None if user_data and data_name != args.dataset_name_or_path else [data_name],
        card_kwargs={"pipeline_tag": "text-classification", "run_task": {"dataset_name": data_name}},
    )


if __name__ == "__main__":
    main()
