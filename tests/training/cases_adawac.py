"""AdaWAC (P34) in the loss matrix (tests/test_loss_matrix.py): two views' segmentation logits, latents, labels and
`sample_idx`; gradients must reach `logits1`. The official batch-wide Dice couples the samples of a batch, so that
case checks permutation equivariance; the per-sample Dice case checks batch invariance."""

import torch

from tests.cases import LossCase, with_input

NUM_CLASSES, SIZE = 3, 4


def _inputs(batch_size):
    g = torch.Generator().manual_seed(0)
    return {
        "logits1": torch.randn(batch_size, NUM_CLASSES, SIZE, SIZE, generator=g) * 2.0,
        "logits2": torch.randn(batch_size, NUM_CLASSES, SIZE, SIZE, generator=g) * 2.0,
        "latent1": torch.randn(batch_size, 4, 2, 2, generator=g),
        "latent2": torch.randn(batch_size, 4, 2, 2, generator=g),
        "labels1": torch.randint(0, NUM_CLASSES, (batch_size, SIZE, SIZE), generator=g),
        "labels2": torch.randint(0, NUM_CLASSES, (batch_size, SIZE, SIZE), generator=g),
        # distinct indices: a batch writes its rows of the β buffer
        "sample_idx": torch.arange(batch_size) * 2,
    }


def _loss(dice_mode):
    def make(reduction):
        from hf_methods.training.adawac import AdaWACLoss

        return AdaWACLoss(
            num_samples=20, lr_w=8.0, dac_coef=2.0, dice_ratio=0.5, dice_mode=dice_mode, reduction=reduction
        )

    return make


_BAD_INPUTS = [
    ("label out of range", with_input("labels1", lambda x: torch.full_like(x["labels1"], NUM_CLASSES)), ValueError, r"labels1 must lie in"),
    ("float labels", with_input("labels2", lambda x: x["labels2"].float()), TypeError, r"integer tensor"),
    ("labels of another shape", with_input("labels1", lambda x: x["labels1"][:, :2]), ValueError, r"labels1 must have shape"),
    ("3-D logits", with_input("logits1", lambda x: x["logits1"][:, 0]), ValueError, r"logits1 must be 4-D"),
    ("latents of different shapes", with_input("latent2", lambda x: x["latent2"][:, :1]), ValueError, r"latent1 and latent2"),
    ("no sample_idx", lambda x: {k: v for k, v in x.items() if k != "sample_idx"}, ValueError, r"sample_idx is required"),
    ("index out of range", with_input("sample_idx", lambda x: x["sample_idx"] + 100), ValueError, r"must lie in"),
    ("float index", with_input("sample_idx", lambda x: x["sample_idx"].float()), TypeError, r"integer"),
]  # fmt: skip

LOSS_CASES = [
    LossCase(
        name="adawac",
        make_loss=_loss("batch"),
        make_inputs=_inputs,
        bad_inputs=_BAD_INPUTS,
        input_key="logits1",
        batch_invariant=False,  # the official Dice is one value over the whole batch
    ),
    LossCase(
        name="adawac-sample-dice",
        make_loss=_loss("sample"),
        make_inputs=_inputs,
        bad_inputs=_BAD_INPUTS,
        input_key="logits1",
    ),
]
