"""Pointer Networks: "Pointer Networks" (Vinyals, Fortunato, Jaitly, NeurIPS 2015).

An encoder–decoder whose output at each step is a distribution over the *input positions*, so the output vocabulary
grows with the input: `PointerNetForSequenceOrdering` (training by teacher forcing, greedy and beam decoding that never
repeat a position), its base `PointerNetModel`, and the sorting and planar convex-hull tasks of the paper. Exports are
lazy: the modeling module is imported on first access only.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PointerNetConfig": ".configuration_pointer_net",
        "PointerNetModel": ".modeling_pointer_net",
        "PointerNetForSequenceOrdering": ".modeling_pointer_net",
        "PointerNetPreTrainedModel": ".modeling_pointer_net",
        "PointerNetOutput": ".modeling_pointer_net",
        "PointerGenerateOutput": ".modeling_pointer_net",
        "PointerAttention": ".modeling_pointer_net",
        "shift_pointers_right": ".modeling_pointer_net",
        "sorting_task": ".tasks",
        "convex_hull_task": ".tasks",
        "convex_hull_order": ".tasks",
        "hull_area_coverage": ".tasks",
        "PointerNetArguments": ".training",
        "train_pointer_net": ".training",
        "evaluate_pointer_net": ".training",
    },
)
