"""MixtureGrowth (P58) in the loss matrix (tests/test_loss_matrix.py): the loss of two members trained side by side
before growth, `Σ_m CE(f_m(x), y)`, on `member_logits` of shape (batch, members, classes).

Growth itself needs a model; it is tested in tests/training/test_mixturegrowth.py."""

import torch

from tests.cases import LossCase, ModelCase, with_input, with_labels


def _member_inputs(batch_size: int, members: int = 2, num_classes: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return {
        "member_logits": torch.randn(batch_size, members, num_classes, generator=g) * 2.0,
        "labels": torch.randint(0, num_classes, (batch_size,), generator=g),
    }


class _MembersLoss(torch.nn.Module):
    """`members_loss` as a module with a fixed reduction."""

    def __init__(self, reduction):
        super().__init__()
        self.reduction = reduction

    def forward(self, member_logits, labels):
        from hf_methods.training.mixturegrowth import members_loss

        return members_loss(member_logits, labels, reduction=self.reduction)


LOSS_CASES = [
    LossCase(
        name="mixturegrowth-members",
        make_loss=_MembersLoss,
        make_inputs=_member_inputs,
        input_key="member_logits",
        bad_inputs=[
            ("label out of range", with_labels(lambda x: torch.full_like(x["labels"], 5)), ValueError, r"lie in"),
            ("negative label", with_labels(lambda x: torch.full_like(x["labels"], -1)), ValueError, r"lie in"),
            ("float labels", with_labels(lambda x: x["labels"].float()), TypeError, r"integer tensor"),
            ("labels of another batch size", with_labels(lambda x: x["labels"][:-1]), ValueError, r"must have shape"),
            (
                "2-D logits",
                with_input("member_logits", lambda x: x["member_logits"][:, 0]),
                ValueError,
                r"member_logits must be 3-D",
            ),
            (
                "one class",
                with_input("member_logits", lambda x: x["member_logits"][:, :, :1]),
                ValueError,
                r"at least 2 classes",
            ),
            (
                "integer logits",
                with_input("member_logits", lambda x: x["member_logits"].long()),
                TypeError,
                r"floating-point",
            ),
        ],
    ),
]


def _pixels(config):
    g = torch.Generator().manual_seed(0)
    return {
        "pixel_values": torch.randn(5, config.input_size, generator=g),
        "labels": torch.randint(0, config.num_labels, (5,), generator=g),
    }


# the grown template-mixing MLP in the model matrix (save/load, Auto classes, remote code, a training step)
MODEL_CASES = [
    ModelCase(
        name="mixturegrowth-grown",
        config="hf_methods.training.mixturegrowth:TemplateMixingConfig",
        config_kwargs={
            "input_size": 6,
            "hidden_sizes": [8, 8],
            "num_labels": 3,
            "num_members": 2,
            "grown": True,
            "block_template_sets": [0, 1, 2, 3],
            "use_batch_norm": False,  # the matrix checks that a training step leaves buffers alone
        },
        models={"hf_methods.training.mixturegrowth:TemplateMixingMLP": "AutoModel"},
        make_inputs=_pixels,
        bad_configs=[
            ({"num_members": 3}, "num_members"),
            ({"hidden_act": "swish"}, "hidden_act"),
            ({"block_template_sets": [1, 0, 0, 1]}, "block_template_sets"),
        ],
        batch_keys=("pixel_values", "labels"),
    ),
]
