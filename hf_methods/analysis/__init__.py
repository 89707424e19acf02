"""Analysis tools: functions that take a model (or its training run) and data and return a dataclass of numbers.

An analysis returns numbers and a plot helper draws them; the modules it ships (a fixed-reweighting projection head,
say) exist to be measured, and its recipe, when it has one, trains the model it measures and writes the numbers and
plots to the output folder. How to add one: CONTRIBUTING.md.
"""
