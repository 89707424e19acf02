"""P53 `advunlearn`: defensive unlearning with adversarial training for concept erasure (Zhang et al., NeurIPS 2024).

The text encoder of a text-to-image diffusion model is trained to erase a concept with the ESD loss on an
*adversarial* prompt (a soft-prompt attack runs in the loop), plus a retain loss on other prompts; the U-Net is
frozen, so the result is a drop-in `CLIPTextModel`.

```python
from hf_methods.training.advunlearn import AdvUnlearnTrainer, SoftPromptAttack

attack = SoftPromptAttack(k=1, steps=30, lr=1e-3)
trainer = AdvUnlearnTrainer(model=text_encoder, args=args, unet=unet, scheduler=scheduler, tokenizer=tokenizer,
                            concept="three", retain_prompts=["one", "two"], attack=attack)
trainer.train(); text_encoder.save_pretrained("advunlearn-text-encoder")
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AdvUnlearnTrainer": ".trainer",
        "AdvUnlearnObjective": ".trainer",
        "sample_to_step": ".trainer",
        "SoftPromptAttack": ".attack",
        "prefix_embeddings": ".attack",
        "ESDLoss": ".loss",
        "esd_loss": ".loss",
        "esd_target": ".loss",
        "retain_loss": ".loss",
        "digit_tokenizer": ".text",
        "encode_text": ".text",
        "tiny_clip_text_encoder": ".text",
        "TextConditionedUNet": ".text",
        "AdvUnlearnArguments": ".training",
    },
)
