"""LDR-KL and ALDR-KL (P35) in the loss matrix (tests/test_loss_matrix.py); ALDR-KL also takes `sample_idx`."""

import torch

from tests.cases import LossCase, classification_inputs, with_input, with_labels


def _ldr(reduction):
    from hf_methods.training.ldr import LDRKLLoss

    return LDRKLLoss(lambda_=1.0, margin=0.1, reduction=reduction)


def _aldr(reduction):
    from hf_methods.training.ldr import ALDRKLLoss

    return ALDRKLLoss(num_samples=20, lambda0=1.0, alpha=2.0, reduction=reduction)


def _aldr_inputs(batch_size):
    # distinct indices: a batch writes its λ_i into the per-example buffer
    return {**classification_inputs(batch_size), "sample_idx": torch.arange(batch_size) * 2}


_LABEL_ERRORS = [
    ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"labels must lie in"),
    ("negative label", with_labels(lambda x: torch.full_like(x["labels"], -1)), ValueError, r"labels must lie in"),
    ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
    ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"labels must have shape"),
    ("1-D logits", with_input("logits", lambda x: x["logits"][:, 0]), ValueError, r"logits must be 2-D"),
    ("one class", with_input("logits", lambda x: x["logits"][:, :1]), ValueError, r"at least 2 classes"),
]

LOSS_CASES = [
    LossCase(name="ldr-kl", make_loss=_ldr, make_inputs=classification_inputs, bad_inputs=_LABEL_ERRORS),
    LossCase(
        name="ldr-aldr-kl",
        make_loss=_aldr,
        make_inputs=_aldr_inputs,
        bad_inputs=[
            *_LABEL_ERRORS,
            ("no sample_idx", lambda x: {k: v for k, v in x.items() if k != "sample_idx"}, ValueError, r"sample_idx"),
            ("index out of range", with_input("sample_idx", lambda x: x["sample_idx"] + 100), ValueError, r"lie in"),
            ("float index", with_input("sample_idx", lambda x: x["sample_idx"].float()), TypeError, r"integer"),
        ],
    ),
]
