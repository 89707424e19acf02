"""Training objectives and algorithms: losses as plain `nn.Module`s with the paper's equation in the docstring,
algorithms as `transformers.Trainer` subclasses or `TrainerCallback`s.

A loss takes logits and labels (and whatever per-example state the paper needs, e.g. a dataset index) and raises a
clear `ValueError` for inputs it cannot handle; its tests check it against the equation written out independently.
How to add one: CONTRIBUTING.md.
"""
