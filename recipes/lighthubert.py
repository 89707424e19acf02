"""Two-stage once-for-all distillation of a LightHuBERT supernet (P07 `lighthubert`, Wang et al., Interspeech 2022).

Offline default: synthetic "speech" (1 s clips at 1 kHz: sums of sinusoids under a slow envelope plus noise) and a
`transformers.HubertModel` teacher with a fixed random initialisation (real HuBERT weights are not available offline).
The student is the toy supernet of the claim check (embed {32, 48, 64}, heads {2, 3, 4} of 16 features, FFN ratio
{2, 3, 4}, 2 layers). `--stage1_steps` steps of stage 1 (the max subnet predicts the teacher's last hidden states at
masked frames), then stage 2 until `--max_steps` (a subnet drawn per step, from the seed and the step, so a resumed
run draws the same subnets). At the end the held-out distillation loss of the min, mid and max subnets is reported;
the output folder holds the supernet (saved as its max subnet: plain weights and remote code), the extracted min
subnet in `min_subnet/` and the `Wav2Vec2FeatureExtractor` in both. The default run takes about a minute on a CPU.

Usage:

```bash
accelerate launch recipes/lighthubert.py                                  # 200 stage-1 + 400 stage-2 steps
accelerate launch recipes/lighthubert.py --stage1_steps 600 --max_steps 600   # stage 1 only (the control)
accelerate launch recipes/lighthubert.py --resume_from_checkpoint latest      # continue a killed run
python recipes/lighthubert.py --help                                      # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.lighthubert import LightHuBERTSupernet
from hf_methods.models.lighthubert.trainer import subnet_rng
from hf_methods.models.lighthubert.training import (
    LightHuBERTArguments,
    distillation_loss,
    evaluate_subnets,
    lighthubert_feature_extractor,
    mid_subnet,
    span_mask,
    synthetic_speech,
    tiny_hubert_teacher,
)

SLUG = "lighthubert"

__all__ = ["LightHuBERTArguments", "main"]


def main(argv: list[str] | None = None):
    from transformers import get_scheduler

    args = parse_recipe_args(LightHuBERTArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    config = args.build_config()
    clips = synthetic_speech(args.num_clips, seed=args.seed)
    held_out = synthetic_speech(args.eval_clips, seed=10_000 + args.seed)
    dataset = [{"input_values": clip} for clip in clips]
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    frames = config.num_frames(clips.shape[1])
    teacher = tiny_hubert_teacher(args.teacher_seed).to(device)
    runner.print(
        f"[{SLUG}] {len(dataset)} synthetic clips, supernet with {config.num_subnets} subnets; stage 1 for "
        f"{args.stage1_steps} steps, stage 2 until {args.max_steps}"
    )

    supernet = LightHuBERTSupernet(config)
    optimizer = torch.optim.AdamW(supernet.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = get_scheduler(
        "constant_with_warmup", optimizer, num_warmup_steps=args.warmup_steps, num_training_steps=args.max_steps
    )
    supernet, optimizer, loader = runner.prepare(supernet, optimizer, loader)
    runner.register_for_checkpointing(scheduler)
    unwrapped = runner.accelerator.unwrap_model(supernet)

    start = runner.resume()
    supernet.train()
    for step, batch in runner.steps(loader, start):
        # the subnet and the span mask depend on (seed, step) only, so a resumed run draws the same ones
        if step < args.stage1_steps:
            unwrapped.set_subnet(unwrapped.max_subnet)
        else:
            unwrapped.sample_subnet(subnet_rng(args.seed, step))
        waveforms = batch["input_values"]
        mask = span_mask(
            len(waveforms),
            frames,
            prob=config.mask_time_prob,
            length=config.mask_time_length,
            seed=args.seed * 1_000_003 + step,
        ).to(device)
        loss = distillation_loss(unwrapped, teacher, waveforms, mask)
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        stage = 1 if step < args.stage1_steps else 2
        logs = {"train/loss": loss, "train/stage": stage, "train/embed_dim": unwrapped.active_subnet["embed_dim"]}
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    unwrapped.set_subnet(unwrapped.max_subnet)
    subnets = {"min": config.min_subnet, "mid": mid_subnet(config), "max": config.max_subnet}
    losses = evaluate_subnets(unwrapped, teacher, held_out.to(device), subnets)
    metrics = {f"eval/loss_{name}": value for name, value in losses.items()}
    metrics.update({f"eval/params_{name}": unwrapped.num_subnet_parameters(s) for name, s in subnets.items()})
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        extractor = lighthubert_feature_extractor(sampling_rate=1000)
        minimal = unwrapped.extract_subnet(config.min_subnet)
        minimal.save_pretrained(runner.output_dir / "min_subnet")
        extractor.save_pretrained(runner.output_dir / "min_subnet")
        extractor.save_pretrained(runner.output_dir)
    runner.finish(supernet, metrics=metrics, card_kwargs={"pipeline_tag": "feature-extraction"})
    return metrics


if __name__ == "__main__":
    main()
