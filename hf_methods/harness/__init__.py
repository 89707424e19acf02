"""The run harness: what recipes and claim scripts are built on (not a method, not a building block of methods).

- `recipe`: arguments, the Accelerator, checkpoint/resume, progress, logs and the Hub-ready output folder of
  `recipes/<slug>.py`;
- `claims`: settings and outcome rules declared as data, runs cached on disk, paired bootstrap intervals, timing
  ratios and plots for `benchmarks/claims/<slug>.py`;
- `results`: reading the committed `benchmarks/results/<slug>.json`.
"""
