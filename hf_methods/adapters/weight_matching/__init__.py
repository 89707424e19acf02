"""Permutation-based weight matching and the analysis of linear mode connectivity (P37, Ito, Yamada & Kumagai,
ICLR 2025; weight matching from Ainsworth et al., "Git Re-Basin", ICLR 2023).

- `permutation.py`: [`PermutationSpec`] (which tensor axes each hidden-unit permutation acts on), [`permutation_spec`]
  (derived for the hf-methods MLP and the gated MLP blocks / residual stream of Llama-family decoders; a clear error
  otherwise), [`weight_matching`] (coordinate descent with `scipy.optimize.linear_sum_assignment`) and
  [`apply_permutation`] (a permuted copy computing the same function);
- `merging.py`: [`interpolate_models`], [`average_models`] (plain models of the base class: `save_pretrained` /
  `from_pretrained` with transformers alone), [`parameter_distance`], [`interpolation_barrier`] (the loss barrier
  along the linear path);
- `analysis.py`: [`singular_vector_alignment`] (the paper's singular-vector analysis: index-wise overlaps of the top
  and bottom singular vectors) and [`singular_overlap_objective`];
- `path.py`: [`add_merge_partner`] — the linear path as a `torch.nn.utils.parametrize` reparameterisation of chosen
  weights (`W(t) = (1 − t) W + t W_partner`, t a learnable scalar), with disable and bake.
"""

from hf_methods.lazy import lazy_exports

__all__ = [
    "BarrierResult",
    "LinearPathMerge",
    "Permutation",
    "PermutationSpec",
    "SingularVectorAlignment",
    "add_merge_partner",
    "apply_permutation",
    "average_models",
    "bake_merge_partner",
    "interpolate_models",
    "interpolation_barrier",
    "merge_partner_disabled",
    "parameter_distance",
    "permutation_spec",
    "singular_overlap_objective",
    "singular_vector_alignment",
    "weight_matching",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Permutation": ".permutation",
        "PermutationSpec": ".permutation",
        "apply_permutation": ".permutation",
        "permutation_spec": ".permutation",
        "weight_matching": ".permutation",
        "BarrierResult": ".merging",
        "average_models": ".merging",
        "interpolate_models": ".merging",
        "interpolation_barrier": ".merging",
        "parameter_distance": ".merging",
        "SingularVectorAlignment": ".analysis",
        "singular_overlap_objective": ".analysis",
        "singular_vector_alignment": ".analysis",
        "LinearPathMerge": ".path",
        "add_merge_partner": ".path",
        "bake_merge_partner": ".path",
        "merge_partner_disabled": ".path",
    },
)
