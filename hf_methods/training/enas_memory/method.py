"""The catalogue record of `enas_memory` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="enas_memory",
    paper_id="P47",
    title="Understanding Neural Architecture Search Techniques",
    arxiv="1904.00438",
    official_code=None,
    kind="training",
    tags=("nas", "enas", "reinforcement-learning"),
    entry_points=(
        "hf_methods.training.enas_memory:ENASConfig",
        "hf_methods.training.enas_memory:ENASController",
        "hf_methods.training.enas_memory:ENASSearch",
        "hf_methods.training.enas_memory:hidden_state_graph_correlation",
    ),
    recipe="recipes/enas_memory.py",
    claim=(
        "ENAS performs about as well as random search with weight sharing, and its controller's hidden states "
        "only encode graph similarity when trained with a memory buffer; the digits check asserts ENAS and random "
        "search differ by <2 points and that the buffer raises the hidden-state/graph Spearman ρ by ≥0.1 (margins "
        "unverified)."
    ),
    usage=(
        "search = ENASSearch(ENASController(ENASConfig(num_nodes=4)), supernet, memory_buffer_size=256)\n"
        "rho = hidden_state_graph_correlation(search.controller, n=200)"
    ),
    notes="No official code: the memory buffer is a reconstruction from the paper text; the result is noisy.",
)
