"""HPM's (P50) ranking loss of the loss predictor in the loss matrix (tests/test_loss_matrix.py)."""

import torch

from tests.cases import LossCase, with_input


def _ranking(reduction):
    from hf_methods.training.hpm import HardPatchRankingLoss

    return HardPatchRankingLoss(reduction=reduction)


def _ranking_inputs(batch_size, num_patches=12):
    # ŝ of the masked patches (what the loss predictor outputs) and their reconstruction losses ℓ (the targets)
    g = torch.Generator().manual_seed(0)
    return {
        "predicted_losses": torch.randn(batch_size, num_patches, generator=g),
        "patch_losses": torch.rand(batch_size, num_patches, generator=g),
    }


LOSS_CASES = [
    LossCase(
        name="hpm-ranking",
        make_loss=_ranking,
        make_inputs=_ranking_inputs,
        input_key="predicted_losses",
        bad_inputs=[
            ("1-D scores", with_input("predicted_losses", lambda x: x["predicted_losses"][:, 0]), ValueError, r"2-D"),
            (
                "targets of another shape",
                with_input("patch_losses", lambda x: x["patch_losses"][:, :-1]),
                ValueError,
                r"patch_losses must have shape",
            ),
            (
                "integer targets",
                with_input("patch_losses", lambda x: x["patch_losses"].long()),
                TypeError,
                r"floating-point",
            ),
            (
                "one patch",
                with_input("predicted_losses", lambda x: x["predicted_losses"][:, :1]),
                ValueError,
                r"patch_losses must have shape",
            ),
        ],
    ),
]
