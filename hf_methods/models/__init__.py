"""Model architectures of `transformers` (`model_type` `hfm-<slug>`), registered with the Auto classes by
`import hf_methods` and saved with their code, so a checkpoint also loads with `trust_remote_code=True` where
hf-methods is not installed; detectors and heads over a frozen language model live here too.

A method of this kind is a `PretrainedConfig` that validates its arguments and one or more `PreTrainedModel` classes
returning `transformers` output dataclasses. Its record lists them in `auto_classes`, and a case in
`tests/models/cases_<slug>.py` puts them through the model matrix (save/load, Auto classes, remote code, batch
invariance). How to add one: CONTRIBUTING.md.
"""
