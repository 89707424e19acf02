"""The hidden-state probe of Adam & Lorraine (2019): does the controller's state encode the architecture it produced?

For n architectures a_1..a_n (sampled from the controller, or drawn uniformly), the controller reads each one with
teacher forcing and its final state h_T(a_i) is kept. Over all pairs i < j the analysis correlates the hidden-state
distance ‖h_T(a_i) − h_T(a_j)‖₂ with the graph edit distance d(a_i, a_j) (the Hamming distance over the decisions,
[`architecture_distance`]) by Spearman's rank correlation ρ (`scipy.stats.spearmanr`). The paper reports ρ ≈ 0 for the
ENAS controller and a higher ρ after training with a memory buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .controller import ENASController, architecture_distance, uniform_architectures

ARCHITECTURE_SOURCES = ("controller", "uniform")


@dataclass
class HiddenStateGraphCorrelation:
    """The result of [`hidden_state_graph_correlation`].

    Args:
        spearman_rho: Spearman ρ between hidden-state distance and graph edit distance over all pairs (NaN when one
            of the two is constant, e.g. a controller that samples one architecture only).
        p_value: scipy's p-value of ρ (pairs are not independent: read it as a rough guide only).
        num_architectures: n.
        num_distinct_architectures: distinct architectures among the n.
        num_pairs: n(n − 1)/2.
        graph_distances: the distinct graph distances present, ascending.
        mean_hidden_distance: the mean hidden-state distance of the pairs at each of those graph distances.
        pairs_per_distance: how many pairs are at each of those graph distances.
    """

    spearman_rho: float
    p_value: float
    num_architectures: int
    num_distinct_architectures: int
    num_pairs: int
    graph_distances: list[int]
    mean_hidden_distance: list[float]
    pairs_per_distance: list[int]


def pairwise_distances(decisions: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(graph, hidden)` distances of every pair i < j of the rows (upper triangle, row-major order)."""
    i, j = torch.triu_indices(len(decisions), len(decisions), offset=1)
    graph = architecture_distance(decisions[i], decisions[j])
    hidden_distance = (hidden[i] - hidden[j]).norm(dim=-1)
    return graph, hidden_distance


@torch.no_grad()
def hidden_state_graph_correlation(
    controller: ENASController, n: int = 200, *, architectures: str = "controller", seed: int = 0
) -> HiddenStateGraphCorrelation:
    """Spearman ρ between the controller's final hidden states and the graph edit distance of their architectures.

    Args:
        controller ([`ENASController`]): the controller to probe (left in the mode it was in).
        n (`int`, defaults to 200): architectures (≥ 3).
        architectures (`str`, defaults to `"controller"`): `"controller"` samples them from π_θ (the paper's probe);
            `"uniform"` draws them uniformly (a probe that does not depend on how peaked the policy is).
        seed (`int`): seed of the sampling.
    """
    from scipy.stats import spearmanr

    if not isinstance(controller, ENASController):
        raise TypeError(f"controller must be an ENASController, got {type(controller).__name__}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 3:
        raise ValueError(f"n must be an int >= 3 (pairs of architectures are compared), got {n!r}")
    if architectures not in ARCHITECTURE_SOURCES:
        raise ValueError(f"architectures must be one of {ARCHITECTURE_SOURCES}, got {architectures!r}")
    generator = torch.Generator().manual_seed(seed)
    was_training = controller.training
    controller.eval()
    try:
        if architectures == "controller":
            decisions = controller.sample(n, generator=generator).decisions
        else:
            decisions = uniform_architectures(n, controller.decision_sizes, generator)
        hidden = controller(decisions=decisions).final_hidden_state.double().cpu()
    finally:
        controller.train(was_training)
    decisions = decisions.cpu()
    graph, hidden_distance = pairwise_distances(decisions, hidden)
    if graph.unique().numel() < 2 or hidden_distance.unique().numel() < 2:
        rho, p_value = float("nan"), float("nan")
    else:
        result = spearmanr(graph.numpy(), hidden_distance.numpy())
        rho, p_value = float(result.statistic), float(result.pvalue)
    levels = graph.unique().tolist()
    return HiddenStateGraphCorrelation(
        spearman_rho=rho,
        p_value=p_value,
        num_architectures=n,
        num_distinct_architectures=int(decisions.unique(dim=0).shape[0]),
        num_pairs=len(graph),
        graph_distances=[int(d) for d in levels],
        mean_hidden_distance=[hidden_distance[graph == d].mean().item() for d in levels],
        pairs_per_distance=[int((graph == d).sum()) for d in levels],
    )


def plot_hidden_state_graph_correlation(
    results: dict[str, HiddenStateGraphCorrelation], path, *, relative: bool = True
) -> None:
    """Mean hidden-state distance against graph edit distance, one line per labelled result (ρ in the legend).

    With `relative=True` each controller's distances are divided by their mean over all pairs, so controllers whose
    hidden states live on different scales share one axis (ρ is scale-free; the shape of the curve is what matters).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(results, HiddenStateGraphCorrelation):
        results = {"controller": results}
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for label, result in results.items():
        distances = result.mean_hidden_distance
        if relative:
            overall = sum(d * n for d, n in zip(distances, result.pairs_per_distance)) / sum(result.pairs_per_distance)
            distances = [d / overall if overall > 0 else 0.0 for d in distances]
        ax.plot(
            result.graph_distances,
            distances,
            marker="o",
            label=f"{label} (ρ = {result.spearman_rho:.2f})",
        )
    ax.set_xlabel("graph edit distance between architectures")
    ax.set_ylabel("hidden-state distance / its mean" if relative else "mean controller hidden-state distance")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


__all__ = [
    "ARCHITECTURE_SOURCES",
    "HiddenStateGraphCorrelation",
    "hidden_state_graph_correlation",
    "pairwise_distances",
    "plot_hidden_state_graph_correlation",
]
