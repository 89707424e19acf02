"""PEFT methods and PEFT-shaped adapters on a pretrained model: a peft config where peft already has the method (its
saved adapters then load with plain peft), otherwise `XConfig`, `get_x_model(base, config)` and
`XModel.from_pretrained(base, path)` with adapter-only safetensors.

The base model's weights stay frozen (and may be quantized); only the adapter trains and is saved. A case in
`tests/adapters/cases_<slug>.py` puts the adapter through the adapter matrix (save/load, disable, merge where the
method merges). How to add one: CONTRIBUTING.md.
"""
