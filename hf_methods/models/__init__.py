"""transformers architectures of hf-methods."""
