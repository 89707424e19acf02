"""Building blocks shared by several methods (data, tiny models, recipes, claims); no method-specific logic."""
