"""P47 `enas_memory`: ENAS, random search with weight sharing, and ENAS's controller trained with a memory buffer
(Adam & Lorraine, "Understanding Neural Architecture Search Techniques", 2019), with the paper's probe of the
controller's hidden states against architecture similarity.

```python
from hf_methods.training.enas_memory import (
    ENASConfig, ENASController, ENASCellConfig, ENASSupernet, ENASSearch, ENASTrainer, hidden_state_graph_correlation,
)

supernet = ENASSupernet(ENASCellConfig(num_nodes=4, ops=["tanh", "relu", "identity"]))
controller = ENASController(ENASConfig(num_nodes=4, ops=["tanh", "relu", "identity"]))
search = ENASSearch(controller, supernet, memory_buffer_size=256)      # memory_buffer_size=0: vanilla ENAS
search.fit(train=(x, y), validation=(x_val, y_val), epochs=10)          # or ENASTrainer(model=supernet, search=...)
best = search.best_model((x_val, y_val))                               # a standalone ENASCellForImageClassification
probe = hidden_state_graph_correlation(search.controller, n=200)       # Spearman ρ, hidden states vs edit distance
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ControllerOutput": ".controller",
        "ENASConfig": ".controller",
        "ENASController": ".controller",
        "architecture_distance": ".controller",
        "decode_architecture": ".controller",
        "uniform_architectures": ".controller",
        "ENASCellConfig": ".modeling",
        "ENASCellForImageClassification": ".modeling",
        "ENASSupernet": ".modeling",
        "MemoryBuffer": ".loss",
        "MemoryReconstructionLoss": ".loss",
        "reinforce_loss": ".loss",
        "ENASSearch": ".search",
        "ENASTrainer": ".trainer",
        "HiddenStateGraphCorrelation": ".analysis",
        "hidden_state_graph_correlation": ".analysis",
        "plot_hidden_state_graph_correlation": ".analysis",
        "ENASMemoryArguments": ".training",
        "run_search": ".training",
    },
)
