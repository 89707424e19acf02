"""training of hf-methods (see DESIGN.md §3)."""
