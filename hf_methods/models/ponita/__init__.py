"""PONITA (P52): "Fast, Expressive SE(n) Equivariant Networks through Weight-Sharing in Position-Orientation Space"
(Bekkers, Vadgama, Hesselink, van der Linden, Romero; ICLR 2024).

A `transformers` model (`PonitaModel`, Auto-registered, saved with its code) in fiber-bundle and point-cloud mode, the
graph pieces it needs in plain torch, the charged N-body simulator and the training code of the recipe and the claim
check. Exports are lazy.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PonitaConfig": ".configuration_ponita",
        "PonitaModel": ".modeling_ponita",
        "PonitaOutput": ".modeling_ponita",
        "PonitaPreTrainedModel": ".modeling_ponita",
        "fibonacci_sphere": ".modeling_ponita",
        "lift_point_cloud": ".modeling_ponita",
        "fiber_bundle_attributes": ".modeling_ponita",
        "point_cloud_attributes": ".modeling_ponita",
        "radius_graph": ".modeling_ponita",
        "PonitaArguments": ".training",
        "make_nbody_task": ".training",
        "simulate_charged_particles": ".training",
    },
)
