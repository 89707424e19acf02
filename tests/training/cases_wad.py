"""WAD's weighted pseudo-label loss (P44) in the loss matrix (tests/test_loss_matrix.py): it also takes `weights`."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _wad(reduction):
    from hf_methods.training.wad import WADLoss

    return WADLoss(reduction=reduction)


def _wad_inputs(batch_size):
    # top-two similarity margins lie in [0, 2]; distinct values so a mix-up of examples shows
    g = torch.Generator().manual_seed(1)
    return {**classification_inputs(batch_size), "weights": torch.rand(batch_size, generator=g) * 2}


LOSS_CASES = [
    LossCase(
        name="wad",
        make_loss=_wad,
        make_inputs=_wad_inputs,
        bad_inputs=[
            (
                "label out of range",
                with_labels(lambda x: torch.full_like(x["labels"], 5)),
                ValueError,
                "labels must lie",
            ),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, "integer tensor"),
            ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, "labels must have"),
            ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, "logits must be 2-D"),
            (
                "weights of another size",
                with_input("weights", lambda x: x["weights"][:-1]),
                ValueError,
                "weights must",
            ),
            ("integer weights", with_input("weights", lambda x: x["weights"].long()), TypeError, "floating-point"),
            ("no weights", lambda x: {k: v for k, v in x.items() if k != "weights"}, TypeError, "weights"),
        ],
    ),
]
