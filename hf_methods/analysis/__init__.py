"""Analysis tools: functions that take a model (or its training run) and data and return a dataclass of numbers.

An analysis measures and changes nothing: it has no model classes of its own, and its recipe, when it has one, trains
the model it measures and writes the numbers to the output folder. How to add one: CONTRIBUTING.md.
"""
