"""The catalogue record of `advunlearn` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="advunlearn",
    paper_id="P53",
    title="Defensive Unlearning with Adversarial Training for Robust Concept Erasure in Diffusion Models",
    arxiv="2405.15234",
    official_code="OPTML-Group/AdvUnlearn",
    kind="training",
    tags=("machine-unlearning", "diffusion", "adversarial-training", "concept-erasure"),
    entry_points=(
        "hf_methods.training.advunlearn:AdvUnlearnTrainer",
        "hf_methods.training.advunlearn:AdvUnlearnObjective",
        "hf_methods.training.advunlearn:SoftPromptAttack",
        "hf_methods.training.advunlearn:ESDLoss",
    ),
    recipe="recipes/advunlearn.py",
    claim=(
        "Training the text encoder adversarially during concept erasure (AdvUnlearn) cuts prompt-attack success "
        "(about 21% vs 73% for ESD on SD v1.4 nudity) at similar utility; on a tiny text-to-image diffusion model of "
        "digits (diffusers U-Net + CLIPTextModel) erasing the digit three, the check asserts an attack success rate "
        "at least 0.2 below ESD's on the text encoder and at least 0.8x the original retained-digit accuracy."
    ),
    venue="NeurIPS 2024",
    usage=(
        "import tempfile\n"
        "from transformers import TrainingArguments\n"
        "from hf_methods.common.diffusion import ddpm_scheduler, tiny_unet\n"
        "from hf_methods.training.advunlearn import AdvUnlearnTrainer, SoftPromptAttack, digit_tokenizer, "
        "tiny_clip_text_encoder\n"
        "\n"
        "tokenizer = digit_tokenizer()  # word-level prompts: 'a photo of the digit three', ...\n"
        "text_encoder = tiny_clip_text_encoder(tokenizer)  # a transformers CLIPTextModel (train it with the U-Net first)\n"
        "unet, scheduler = tiny_unet(cross_attention_dim=32), ddpm_scheduler()  # diffusers UNet2DConditionModel\n"
        "args = TrainingArguments(tempfile.mkdtemp(), max_steps=2, learning_rate=1e-3, report_to=[], use_cpu=True)\n"
        "trainer = AdvUnlearnTrainer(\n"
        "    model=text_encoder, args=args, unet=unet, scheduler=scheduler, tokenizer=tokenizer,\n"
        "    concept=['three', 'a photo of the digit three'], retain_prompts=['one', 'a photo of the digit seven'],\n"
        "    attack=SoftPromptAttack(k=1, steps=30, lr=1e-3), retain_weight=0.3,\n"
        ")\n"
        "trainer.train()  # only the text encoder changes; the U-Net stays frozen\n"
        "text_encoder.save_pretrained(tempfile.mkdtemp())  # a drop-in CLIPTextModel"
    ),
    notes=(
        "Only the text encoder is trained (the official `text_encoder_full` setting), with the ESD loss on an "
        "adversarial 1-token prefix in word-embedding space and the retain loss (`retain_train='reg'`). Deviations "
        "from the official code: each attack reuses its training step's noisy latents for all its steps (the "
        "official attack draws new ones every step); z_t is drawn from a 10-step DDIM schedule at the sampled step "
        "(officially a 50-step schedule and a random DDPM timestep inside that step's interval); the final layer "
        "norm is trained too. Stable Diffusion is not available offline: the recipe and the claim train a tiny "
        "text-to-image model on 8x8 digits (diffusers U-Net, extra `diffusion`) and erase a digit; the evaluation "
        "attack uses UnlearnDiffAtk's denoising objective on real images of the erased digit."
    ),
)
