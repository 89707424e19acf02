"""P58 `mixturegrowth`: growing a network by recombining learned parameter templates (Pham, Teterwak, Nelson & Plummer,
WACV 2024).

```python
from hf_methods.training.mixturegrowth import TemplateMixingConfig, TemplateMixingMLP, grow_mixture, GrowthCallback

member_a = TemplateMixingMLP(TemplateMixingConfig(input_size=64, hidden_sizes=[64, 64], num_labels=10))
member_b = TemplateMixingMLP(TemplateMixingConfig(input_size=64, hidden_sizes=[64, 64], num_labels=10))
# ... train both members, then:
grown = grow_mixture(member_a, member_b, coefs="orthogonal")  # hidden width 128, new blocks from learned templates
# or in one Trainer run: a two-member model grown in place by the callback
pair = TemplateMixingMLP(TemplateMixingConfig(hidden_sizes=[128, 128], num_members=2))
trainer = Trainer(model=pair, args=args, train_dataset=ds, callbacks=[GrowthCallback(grow_at_epoch=20)])
```

Exports are lazy: the modeling module (a `PreTrainedModel`) is imported on first access only.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TemplateMixingConfig": ".configuration_mixturegrowth",
        "TemplateMixingMLP": ".modeling_mixturegrowth",
        "TemplateMixingOutput": ".modeling_mixturegrowth",
        "TemplateMixingPreTrainedModel": ".modeling_mixturegrowth",
        "TemplateLinear": ".modeling_mixturegrowth",
        "GROWTH_COEFFICIENTS": ".modeling_mixturegrowth",
        "members_loss": ".modeling_mixturegrowth",
        "orthogonal_coefficients": ".modeling_mixturegrowth",
        "grow_mixture": ".growth",
        "GrowthCallback": ".growth",
    },
)
