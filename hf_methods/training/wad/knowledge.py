"""Knowledge generation of Weight-Aware Distillation (Du et al., ICCV 2023): pseudo-labels and weights from a teacher.

A frozen (contrastively pre-trained) teacher `f` maps every image to a feature vector. For the known classes
`c = 1..C`, each represented by the teacher features of its labelled examples, an unlabelled example `u` gets one
similarity per class, a pseudo-label and a weight:

    s_c(u) = max_{x ∈ L_c} cos(f(u), f(x))          (mode="nearest", the official code)
    s_c(u) = cos(f(u), a_c),  a_c = normalise(mean_{x ∈ L_c} f(x)/‖f(x)‖)          (mode="prototype")
    ŷ(u)   = argmax_c s_c(u)
    w(u)   = s_(1)(u) · (1 − s_(2)(u) / s_(1)(u)) = s_(1)(u) − s_(2)(u)

with `s_(1) ≥ s_(2)` the two largest similarities. The paper motivates `w` through the point-wise mutual information
of `u` and its class in the representation space: an example close to one known class and far from the others is
both well pseudo-labelled and likely to belong to a known class; an example of an unknown class sits between the
known ones and gets a small margin. The official code (`RUC-DWBI-ML/research`, `WAD-master/evals/eval.py`,
`knowledge_generation` / `get_scores`) scores each class by the largest cosine similarity to that class's labelled
examples (a nearest-neighbour score inherited from CSI), which is `mode="nearest"` here; `mode="prototype"` uses the
normalised class mean instead. The weight is computed as the difference `s_(1) − s_(2)`, which equals the official
`s_(1)(1 − s_(2)/s_(1))` wherever that is defined (the official form divides by zero when `s_(1) = 0`).

After each training round the labelled groups grow: [`select_reliable`] picks the unlabelled examples on which the
student agrees best with the teacher's pseudo-label (smallest cross-entropy), and [`promotion_fraction`] gives how
many, `α_t = α (1 − t/T)²` of the current unlabelled pool after round `t` of `T` (`polynomial_decay` in the official
`datasets.py`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hf_methods.common.checks import check_number

MODES = ("nearest", "prototype")


def _check_features(name: str, features) -> torch.Tensor:
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, dim), got {type(features).__name__}")
    if features.dim() != 2 or not features.is_floating_point():
        raise ValueError(f"{name} must be a 2-D float tensor (n, dim), got shape {tuple(features.shape)}")
    return features


def _check_labels(labels, n: int, num_classes: int | None) -> int:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labelled_labels must be a torch.Tensor of class indices, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labelled_labels must be an integer tensor, got dtype {labels.dtype}")
    if tuple(labels.shape) != (n,):
        raise ValueError(
            f"labelled_labels must have shape ({n},) to match labelled_features, got {tuple(labels.shape)}"
        )
    if n == 0:
        raise ValueError("labelled_features is empty: every known class needs at least one labelled example")
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2 (the weight is a margin between two classes), got {num_classes}")
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(
            f"labelled_labels must lie in [0, {num_classes}), got range [{int(labels.min())}, {int(labels.max())}]"
        )
    counts = torch.bincount(labels.long(), minlength=num_classes)
    if (counts == 0).any():
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(f"labelled_labels has no example of class(es) {missing}: every class needs one")
    return num_classes


def class_similarity_scores(
    unlabelled_features: torch.Tensor,
    labelled_features: torch.Tensor,
    labelled_labels: torch.Tensor,
    *,
    num_classes: int | None = None,
    mode: str = "nearest",
    chunk_size: int = 4096,
) -> torch.Tensor:
    """The per-class similarities `s_c(u)` of every unlabelled example, shape `(n_unlabelled, num_classes)`.

    Args:
        unlabelled_features (`torch.Tensor` of shape `(n_u, dim)`): teacher features of the unlabelled examples.
        labelled_features (`torch.Tensor` of shape `(n_l, dim)`): teacher features of the labelled examples.
        labelled_labels (`torch.LongTensor` of shape `(n_l,)`): their classes, every class in `[0, num_classes)`
            present at least once.
        num_classes (`int`, *optional*): the number of known classes (default: `max(labelled_labels) + 1`).
        mode (`str`, defaults to `"nearest"`): `"nearest"`, `s_c(u) = max_{x ∈ L_c} cos(f(u), f(x))` (the official
            code), or `"prototype"`, `s_c(u) = cos(f(u), a_c)` with `a_c` the normalised mean of the normalised
            features of class c.
        chunk_size (`int`, defaults to 4096): unlabelled rows scored at once (bounds the `(rows, n_l)` matrix).
    """
    _check_features("unlabelled_features", unlabelled_features)
    _check_features("labelled_features", labelled_features)
    if unlabelled_features.shape[1] != labelled_features.shape[1]:
        raise ValueError(
            "unlabelled_features and labelled_features must have the same feature size, got "
            f"{unlabelled_features.shape[1]} and {labelled_features.shape[1]}"
        )
    num_classes = _check_labels(labelled_labels, len(labelled_features), num_classes)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    labels = labelled_labels.long().to(labelled_features.device)
    unlabelled = F.normalize(unlabelled_features, dim=1)
    labelled = F.normalize(labelled_features.to(unlabelled.dtype), dim=1)
    if mode == "prototype":
        sums = torch.zeros(num_classes, labelled.shape[1], dtype=labelled.dtype, device=labelled.device)
        prototypes = F.normalize(sums.index_add_(0, labels, labelled), dim=1)  # normalise(mean) = normalise(sum)
        return unlabelled @ prototypes.T
    scores = []
    for rows in unlabelled.split(chunk_size):
        cosine = rows @ labelled.T  # (rows, n_l)
        best = torch.full((len(rows), num_classes), -math.inf, dtype=cosine.dtype, device=cosine.device)
        scores.append(best.scatter_reduce(1, labels.expand(len(rows), -1), cosine, reduce="amax"))
    return torch.cat(scores) if scores else unlabelled.new_zeros(0, num_classes)


def pseudo_labels_and_weights(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`ŷ = argmax_c s_c` and `w = s_(1) − s_(2)` (the top-two margin) from class similarities `(n, C)`, `C ≥ 2`."""
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be a (n, num_classes >= 2) tensor, got {tuple(getattr(scores, 'shape', ()))}")
    top2 = scores.topk(2, dim=1)
    return top2.indices[:, 0], top2.values[:, 0] - top2.values[:, 1]


def prototype_pseudo_labels(
    unlabelled_features: torch.Tensor,
    labelled_features: torch.Tensor,
    labelled_labels: torch.Tensor,
    *,
    num_classes: int | None = None,
    mode: str = "nearest",
) -> tuple[torch.Tensor, torch.Tensor]:
    """WAD's knowledge generation: a pseudo-label and a weight for every unlabelled example.

        ŷ(u) = argmax_c s_c(u),      w(u) = s_(1)(u) · (1 − s_(2)(u)/s_(1)(u)) = s_(1)(u) − s_(2)(u)

    with `s_c(u)` the teacher-space similarity of `u` to the labelled examples of class c (see
    [`class_similarity_scores`] for `mode`). Unknown-class examples, which sit between the known classes, get small
    weights; examples close to one known class get large ones. The weights lie in `[0, 2]` and are not normalised
    (the official code multiplies the per-example cross-entropy by them as they are).

    Args:
        unlabelled_features (`torch.Tensor` of shape `(n_u, dim)`): teacher features of the unlabelled examples.
        labelled_features (`torch.Tensor` of shape `(n_l, dim)`): teacher features of the (current) labelled examples.
        labelled_labels (`torch.LongTensor` of shape `(n_l,)`): their classes.
        num_classes (`int`, *optional*): the number of known classes (default: `max(labelled_labels) + 1`).
        mode (`str`, defaults to `"nearest"`): `"nearest"` (official code) or `"prototype"` (class means).

    Returns:
        `(pseudo_labels, weights)`: a `LongTensor` `(n_u,)` and a float tensor `(n_u,)`.

    Example:

    ```python
    >>> yhat, w = prototype_pseudo_labels(teacher(x_unlabelled), teacher(x_labelled), y_labelled)
    ```
    """
    scores = class_similarity_scores(
        unlabelled_features, labelled_features, labelled_labels, num_classes=num_classes, mode=mode
    )
    return pseudo_labels_and_weights(scores)


def promotion_fraction(round_index: int, alpha: float, rounds: int, power: float = 2.0) -> float:
    """`α_t = α · (1 − min(t, T)/T)^power`: the fraction of the unlabelled pool promoted after training round `t`.

    Rounds are counted from 1, as in the official `distillation_main.py` (`polynomial_decay(i, α, 0, split, 2)` after
    round `i` of `split + 1`): the first promotion is `α(1 − 1/T)²`, and nothing is promoted after rounds `T` and
    `T + 1`.

    Args:
        round_index (`int`): the round just finished, `t >= 1`.
        alpha (`float`): the initial fraction `α ∈ [0, 1]`.
        rounds (`int`): `T >= 1`, the number of rounds over which `α_t` decays to 0.
        power (`float`, defaults to 2.0): the polynomial's power (> 0).
    """
    if isinstance(round_index, bool) or not isinstance(round_index, int) or round_index < 1:
        raise ValueError(f"round_index must be an int >= 1, got {round_index!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an int >= 1, got {rounds!r}")
    alpha = check_number("alpha", alpha, low=0, high=1)
    power = check_number("power", power, low=0, low_open=True)
    return alpha * (1.0 - min(round_index, rounds) / rounds) ** power


def select_reliable(student_logits: torch.Tensor, pseudo_labels: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the `count` examples with the smallest `CE(student_logits, pseudo_labels)`, most reliable first.

    These are the unlabelled examples on which the student already agrees with the teacher's pseudo-label; WAD moves
    them, with their pseudo-labels, into the labelled groups (`calculate_loss_logits_pseudo` in the official code).
    """
    if not isinstance(student_logits, torch.Tensor) or student_logits.dim() != 2:
        raise ValueError(
            f"student_logits must be a (n, num_classes) tensor, got {getattr(student_logits, 'shape', None)}"
        )
    if not isinstance(pseudo_labels, torch.Tensor) or tuple(pseudo_labels.shape) != (len(student_logits),):
        raise ValueError(f"pseudo_labels must be a tensor of shape ({len(student_logits)},)")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= len(student_logits):
        raise ValueError(f"count must be an int in [0, {len(student_logits)}], got {count!r}")
    loss = F.cross_entropy(student_logits.float(), pseudo_labels.long(), reduction="none")
    return torch.topk(-loss, count).indices


__all__ = [
    "MODES",
    "class_similarity_scores",
    "promotion_fraction",
    "prototype_pseudo_labels",
    "pseudo_labels_and_weights",
    "select_reliable",
]
