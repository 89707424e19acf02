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
        "hf_methods.training.enas_memory:ENASCellConfig",
        "hf_methods.training.enas_memory:ENASSupernet",
        "hf_methods.training.enas_memory:ENASCellForImageClassification",
        "hf_methods.training.enas_memory:ENASSearch",
        "hf_methods.training.enas_memory:ENASTrainer",
        "hf_methods.training.enas_memory:MemoryReconstructionLoss",
        "hf_methods.training.enas_memory:hidden_state_graph_correlation",
    ),
    recipe="recipes/enas_memory.py",
    claim=(
        "ENAS does no better than random search with weight sharing, and its controller's hidden states only track "
        "architecture similarity once it is trained with a memory buffer of past architectures; the digits check "
        "asserts that the cells found by ENAS and by random search (retrained from scratch) differ by at most 2 "
        "points of test accuracy and that the memory buffer raises the Spearman ρ between hidden-state distance and "
        "graph edit distance by at least 0.1 (5 seeds, margins set by this project)."
    ),
    usage=(
        "import torch\n"
        "from hf_methods.training.enas_memory import (\n"
        "    ENASCellConfig, ENASConfig, ENASController, ENASSearch, ENASSupernet, hidden_state_graph_correlation,\n"
        ")\n"
        "\n"
        'ops = ["tanh", "relu", "identity"]\n'
        "x, y = torch.rand(256, 64), torch.randint(0, 10, (256,))\n"
        "supernet = ENASSupernet(ENASCellConfig(num_nodes=4, ops=ops))\n"
        "controller = ENASController(ENASConfig(num_nodes=4, ops=ops))\n"
        "search = ENASSearch(controller, supernet, memory_buffer_size=256)  # 0: vanilla ENAS\n"
        "search.fit((x[:192], y[:192]), (x[192:], y[192:]), epochs=2, child_steps=5, controller_steps=5)\n"
        "best = search.best_model((x[192:], y[192:]), num_candidates=10)  # a standalone model: save_pretrained(...)\n"
        "probe = hidden_state_graph_correlation(search.controller, n=50)\n"
        "print(best.config.architecture, probe.spearman_rho)"
    ),
    notes=(
        "No official code. The memory-buffer objective is a reconstruction from the paper's text: each controller "
        "step stores the sampled (architecture, reward) in a FIFO buffer, replays a batch of stored architectures with "
        "teacher forcing and adds their REINFORCE loss (no importance weights) and a cross-entropy that decodes every "
        "decision from the controller's final hidden state. The paper searches ENAS recurrent cells on Penn Treebank "
        "with reward c/perplexity; here the cell is a feed-forward ENAS cell (each node reads one earlier node through "
        "a shared Linear and applies an activation; the loose ends are averaged) on digits, with reward = validation "
        "accuracy, so the check tests the mechanism only. The controller uses one linear decoder and one embedding "
        "table per decision (as the ENAS recurrent-cell controller of ENAS-pytorch) rather than attention over "
        "earlier nodes. The graph edit distance is the Hamming distance over the decisions. Results are noisy."
    ),
)
