"""The P2C objective (Kim, Shin & Kang, "Prefer to Classify", ICML 2023) and extractive preferences from votes.

A training example of P2C is a *pair* `(x₁, x₂)` that shares one task label `y`, with a preference label saying which
of the two is "more `y`-like". Preferences use the encoding of the official code (`minnesotanlp/p2c`):

- `1` (`PREFER_FIRST`): x₁ ≻ x₂;
- `0` (`PREFER_SECOND`): x₂ ≻ x₁;
- `2` (`TIE`): no preference (a soft target 0.5 / 0.5).

Each of the `H` preference heads gives a reward `r_h(x, y) ∈ [−1, 1]`; a Bradley–Terry model turns the two rewards of
a pair into `P_h(x₁ ≻ x₂) = e^{r_h(x₁)} / (e^{r_h(x₁)} + e^{r_h(x₂)}) = σ(r_h(x₁) − r_h(x₂))`. The full objective per
pair is

    L = λ_cls · (½ CE(f(x₁), y) + ½ CE(f(x₂), y)) + λ_cons · L_cons + λ_pref · L_pref − λ_div · L_div,

with the terms defined next to the functions below. Rewards are laid out `(batch, heads)` throughout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_reduction, reduce_loss

PREFER_SECOND = 0
PREFER_FIRST = 1
TIE = 2
CONSISTENCIES = ("preference", "soft_label", "none")


# ----------------------------------------------------------------------------------------------------------- checks


def _check_int(name: str, tensor: torch.Tensor, batch: int) -> None:
    if not isinstance(tensor, torch.Tensor) or tensor.is_floating_point() or tensor.is_complex():
        raise TypeError(f"{name} must be an integer tensor, got {getattr(tensor, 'dtype', type(tensor).__name__)}")
    if tensor.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},), got {tuple(tensor.shape)}")


def _check_logits(name: str, logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {getattr(logits, 'dtype', type(logits))}")
    if logits.dim() != 2:
        raise ValueError(f"{name} must be 2-D (batch, num_labels), got shape {tuple(logits.shape)}")
    if logits.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 classes, got {logits.shape[1]}")


def _check_labels(labels: torch.Tensor, batch: int, num_labels: int) -> None:
    _check_int("labels", labels, batch)
    if batch and (labels.min() < 0 or labels.max() >= num_labels):
        raise ValueError(f"labels must lie in [0, {num_labels}), got values in [{labels.min()}, {labels.max()}]")


def _check_preference(preference: torch.Tensor, batch: int) -> None:
    _check_int("preference", preference, batch)
    if batch and not torch.isin(preference, torch.tensor([0, 1, 2], device=preference.device)).all():
        raise ValueError("preference must hold 1 (x₁ ≻ x₂), 0 (x₂ ≻ x₁) or 2 (tie) for every pair")


def _check_rewards(rewards_1: torch.Tensor, rewards_2: torch.Tensor, batch: int | None = None) -> None:
    for name, r in (("rewards", rewards_1), ("pair_rewards", rewards_2)):
        if not isinstance(r, torch.Tensor) or not r.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {getattr(r, 'dtype', type(r).__name__)}")
        if r.dim() != 2:
            raise ValueError(f"{name} must be 2-D (batch, num_heads), got shape {tuple(r.shape)}")
    if rewards_1.shape != rewards_2.shape:
        raise ValueError(
            f"rewards and pair_rewards must have the same shape, got {tuple(rewards_1.shape)} and "
            f"{tuple(rewards_2.shape)}"
        )
    if batch is not None and rewards_1.shape[0] != batch:
        raise ValueError(f"rewards must have shape ({batch}, num_heads), got {tuple(rewards_1.shape)}")


# ------------------------------------------------------------------------------------------------------ preferences


def preference_from_votes(
    votes: torch.Tensor, pair_votes: torch.Tensor, labels: torch.Tensor, *, tolerance: float = 0.0
) -> torch.Tensor:
    """Extractive preferences: which member of each same-label pair received the larger share of votes for `y`.

    `s_c(x) = votes_c(x) / Σ_k votes_k(x)` is the soft label of an example (its annotators' vote fractions). For a
    pair `(x₁, x₂)` with task label `y`: `1` (x₁ ≻ x₂) when `s_y(x₁) − s_y(x₂) > tolerance`, `0` when
    `s_y(x₂) − s_y(x₁) > tolerance`, and `2` (tie) otherwise, as the official extractive data files are built.

    Args:
        votes (`torch.Tensor` of shape `(batch, num_labels)`): vote counts (or fractions) of the first members.
        pair_votes (`torch.Tensor` of shape `(batch, num_labels)`): the same for the second members.
        labels (`torch.LongTensor` of shape `(batch,)`): the task label both members share.
        tolerance (`float`, *optional*, defaults to 0): differences of vote share up to this value are ties.

    Returns:
        `torch.LongTensor` of shape `(batch,)` with values in {0, 1, 2}.
    """
    for name, v in (("votes", votes), ("pair_votes", pair_votes)):
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"{name} must be a tensor of vote counts, got {type(v).__name__}")
        if v.dim() != 2 or v.shape[1] < 2:
            raise ValueError(f"{name} must have shape (batch, num_labels >= 2), got {tuple(v.shape)}")
        if (v < 0).any():
            raise ValueError(f"{name} must be non-negative vote counts")
        if (v.sum(-1) <= 0).any():
            raise ValueError(f"every row of {name} needs at least one vote")
    if votes.shape != pair_votes.shape:
        raise ValueError(
            f"votes and pair_votes must have the same shape, got {tuple(votes.shape)} and {tuple(pair_votes.shape)}"
        )
    _check_labels(labels, votes.shape[0], votes.shape[1])
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    share_1 = (votes.double() / votes.double().sum(-1, keepdim=True)).gather(1, labels[:, None])[:, 0]
    share_2 = (pair_votes.double() / pair_votes.double().sum(-1, keepdim=True)).gather(1, labels[:, None])[:, 0]
    diff = share_1 - share_2
    # vote fractions such as 3/5 are not exact in binary: a difference below 1e-12 is a tie
    tol = max(float(tolerance), 1e-12)
    preference = torch.full_like(labels, TIE)
    preference[diff > tol] = PREFER_FIRST
    preference[diff < -tol] = PREFER_SECOND
    return preference


def preference_targets(preference: torch.Tensor) -> torch.Tensor:
    """The soft target `t = P*(x₁ ≻ x₂)` of each pair: 1 for `1`, 0 for `0`, 0.5 for a tie (`2`)."""
    target = (preference == PREFER_FIRST).double()
    return torch.where(preference == TIE, torch.full_like(target, 0.5), target)


def preference_probabilities(rewards: torch.Tensor, pair_rewards: torch.Tensor) -> torch.Tensor:
    """Bradley–Terry `P_h(x₁ ≻ x₂) = e^{r_h(x₁)} / (e^{r_h(x₁)} + e^{r_h(x₂)})`, shape `(batch, heads)`."""
    _check_rewards(rewards, pair_rewards)
    return torch.sigmoid(rewards - pair_rewards)


def preference_loss(
    rewards: torch.Tensor, pair_rewards: torch.Tensor, preference: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """`L_pref`: the cross-entropy of each head's Bradley–Terry probability against the soft preference target,
    averaged over the `H` heads:

        L_pref = (1/H) Σ_h −[t · log P_h(x₁ ≻ x₂) + (1 − t) · log P_h(x₂ ≻ x₁)],   t ∈ {1, 0, ½}.

    Computed with `logsigmoid` (the official code adds 1e-8 inside the log; with tanh-bounded rewards the two agree to
    ~1e-8).

    Args:
        rewards, pair_rewards (`torch.Tensor` of shape `(batch, heads)`): rewards of the first and second members.
        preference (`torch.LongTensor` of shape `(batch,)`): 1, 0 or 2 (tie).
        reduction (`str`): `"mean"`, `"sum"` or `"none"` (one value per pair).
    """
    check_reduction(reduction)
    _check_rewards(rewards, pair_rewards)
    _check_preference(preference, rewards.shape[0])
    t = preference_targets(preference).to(rewards.dtype)[:, None]
    margin = rewards - pair_rewards
    per_head = -(t * F.logsigmoid(margin) + (1 - t) * F.logsigmoid(-margin))
    return reduce_loss(per_head.mean(dim=1), reduction)


def diversity_loss(rewards: torch.Tensor, pair_rewards: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """`L_div`: the mean cross-entropy between the preference distributions of every ordered pair of heads,

        L_div = 1/(H(H−1)) Σ_{i≠j} −Σ_{o ∈ {≻, ≺}} sg[P_i(o)] · log P_j(o),

    with `sg` a stop-gradient on the target head, as in the official `diversity_loss`. P2C *subtracts* `λ_div · L_div`,
    pushing the heads apart. A single head gives 0.
    """
    check_reduction(reduction)
    _check_rewards(rewards, pair_rewards)
    heads = rewards.shape[1]
    if heads < 2:
        return reduce_loss(rewards.new_zeros(rewards.shape[0]), reduction)
    margin = rewards - pair_rewards
    log_p = torch.stack([F.logsigmoid(margin), F.logsigmoid(-margin)], dim=-1)  # (batch, heads, 2)
    p = log_p.exp().detach()
    # cross[b, i, j] = −Σ_o p_i(o) log p_j(o)
    cross = -torch.einsum("bio,bjo->bij", p, log_p)
    off_diagonal = cross.sum(dim=(1, 2)) - cross.diagonal(dim1=1, dim2=2).sum(dim=1)
    return reduce_loss(off_diagonal / (heads * (heads - 1)), reduction)


def consistency_loss(
    logits: torch.Tensor,
    pair_logits: torch.Tensor,
    labels: torch.Tensor,
    preference: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """`L_cons` from preferences: the classifier must order the pair as the preference does. With
    `Δ = p_θ(y|x₁) − p_θ(y|x₂)`:

        L_cons = max(0, −Δ) if x₁ ≻ x₂;   max(0, Δ) if x₂ ≻ x₁;   |Δ| if tie.
    """
    check_reduction(reduction)
    _check_logits("logits", logits)
    _check_logits("pair_logits", pair_logits)
    if pair_logits.shape != logits.shape:
        raise ValueError(
            f"pair_logits must have the shape of logits {tuple(logits.shape)}, got {tuple(pair_logits.shape)}"
        )
    _check_labels(labels, logits.shape[0], logits.shape[1])
    _check_preference(preference, logits.shape[0])
    delta = (logits.softmax(-1) - pair_logits.softmax(-1)).gather(1, labels[:, None])[:, 0]
    loss = torch.where(
        preference == PREFER_FIRST,
        F.relu(-delta),
        torch.where(preference == PREFER_SECOND, F.relu(delta), delta.abs()),
    )
    return reduce_loss(loss, reduction)


def soft_label_consistency_loss(
    logits: torch.Tensor,
    pair_logits: torch.Tensor,
    soft_labels: torch.Tensor,
    pair_soft_labels: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """`L_cons` of the official extractive runs (`--pair_loss`): for every class `c`, with `δs_c = s_c(x₁) − s_c(x₂)`
    (soft labels, e.g. vote fractions) and `δp_c = p_θ(c|x₁) − p_θ(c|x₂)`,

        L_cons = Σ_c [ max(0, δs_c − δp_c) if δs_c ≥ 0 else max(0, δp_c − δs_c) ],

    i.e. the classifier's probability gap must be at least the annotators' gap, in the same direction.
    """
    check_reduction(reduction)
    _check_logits("logits", logits)
    _check_logits("pair_logits", pair_logits)
    for name, s in (("soft_labels", soft_labels), ("pair_soft_labels", pair_soft_labels)):
        if not isinstance(s, torch.Tensor) or not s.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {getattr(s, 'dtype', type(s).__name__)}")
        if s.shape != logits.shape:
            raise ValueError(f"{name} must have the shape of logits {tuple(logits.shape)}, got {tuple(s.shape)}")
    delta_s = (soft_labels - pair_soft_labels).to(logits.dtype)
    delta_p = logits.softmax(-1) - pair_logits.softmax(-1)
    loss = torch.where(delta_s >= 0, F.relu(delta_s - delta_p), F.relu(delta_p - delta_s)).sum(-1)
    return reduce_loss(loss, reduction)


# ------------------------------------------------------------------------------------------------------- the module


class P2CLoss(nn.Module):
    """The P2C multi-task objective on one batch of same-label pairs:

        L = λ_cls · (½ CE(f(x₁), y) + ½ CE(f(x₂), y)) + λ_cons · L_cons + λ_pref · L_pref − λ_div · L_div.

    See [`preference_loss`], [`diversity_loss`], [`consistency_loss`] and [`soft_label_consistency_loss`].
    With `lambda_pref = lambda_cons = lambda_div = 0` it is plain cross-entropy on both members of the pairs.

    Args:
        lambda_cls (`float`, defaults to 1.0): weight of the classification loss.
        lambda_pref (`float`, defaults to 1.0): weight of the preference loss.
        lambda_cons (`float`, defaults to 1.0): weight of the classifier–preference consistency (official: 1.0 or
            0.1).
        lambda_div (`float`, defaults to 0.1): weight of the diversity term, which is *subtracted* (official: 0.1 or
            1.0).
        consistency (`str`, defaults to `"preference"`): `"preference"` (hinge on `p(y|x₁) − p(y|x₂)` from the
            preference labels), `"soft_label"` (the official extractive `--pair_loss`; needs `soft_labels` and
            `pair_soft_labels`) or `"none"`.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` (one value per pair).

    Forward args:
        logits, pair_logits (`(batch, num_labels)`): classifier logits of the first and second members.
        labels (`(batch,)`): the task label shared by both members.
        preference (`(batch,)`): 1 (x₁ ≻ x₂), 0 (x₂ ≻ x₁) or 2 (tie).
        rewards, pair_rewards (`(batch, heads)`): preference-head rewards (needed when `lambda_pref` or `lambda_div`
            is non-zero).
        soft_labels, pair_soft_labels (`(batch, num_labels)`): for `consistency="soft_label"`.
    """

    def __init__(
        self,
        lambda_cls: float = 1.0,
        lambda_pref: float = 1.0,
        lambda_cons: float = 1.0,
        lambda_div: float = 0.1,
        consistency: str = "preference",
        reduction: str = "mean",
    ):
        super().__init__()
        for name, value in (
            ("lambda_cls", lambda_cls),
            ("lambda_pref", lambda_pref),
            ("lambda_cons", lambda_cons),
            ("lambda_div", lambda_div),
        ):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if consistency not in CONSISTENCIES:
            raise ValueError(f"consistency must be one of {CONSISTENCIES}, got {consistency!r}")
        check_reduction(reduction)
        self.lambda_cls, self.lambda_pref = float(lambda_cls), float(lambda_pref)
        self.lambda_cons, self.lambda_div = float(lambda_cons), float(lambda_div)
        self.consistency, self.reduction = consistency, reduction

    @property
    def needs_rewards(self) -> bool:
        return self.lambda_pref > 0 or self.lambda_div > 0

    @property
    def needs_soft_labels(self) -> bool:
        return self.consistency == "soft_label" and self.lambda_cons > 0

    def components(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        preference: torch.Tensor,
        pair_logits: torch.Tensor,
        rewards: torch.Tensor | None = None,
        pair_rewards: torch.Tensor | None = None,
        soft_labels: torch.Tensor | None = None,
        pair_soft_labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Every term per pair (`reduction="none"`), and `"loss"`, their weighted sum."""
        _check_logits("logits", logits)
        _check_logits("pair_logits", pair_logits)
        if pair_logits.shape != logits.shape:
            raise ValueError(
                f"pair_logits must have the shape of logits {tuple(logits.shape)}, got {tuple(pair_logits.shape)}"
            )
        batch = logits.shape[0]
        _check_labels(labels, batch, logits.shape[1])
        _check_preference(preference, batch)
        terms = {
            "cls": 0.5 * F.cross_entropy(logits, labels, reduction="none")
            + 0.5 * F.cross_entropy(pair_logits, labels, reduction="none")
        }
        zeros = logits.new_zeros(batch)
        if self.lambda_cons > 0 and self.consistency == "preference":
            terms["cons"] = consistency_loss(logits, pair_logits, labels, preference, reduction="none")
        elif self.lambda_cons > 0 and self.consistency == "soft_label":
            if soft_labels is None or pair_soft_labels is None:
                raise ValueError(
                    "consistency='soft_label' needs soft_labels and pair_soft_labels (each member's vote fractions)"
                )
            terms["cons"] = soft_label_consistency_loss(
                logits, pair_logits, soft_labels, pair_soft_labels, reduction="none"
            )
        else:
            terms["cons"] = zeros
        if self.needs_rewards:
            if rewards is None or pair_rewards is None:
                raise ValueError("lambda_pref > 0 or lambda_div > 0 needs rewards and pair_rewards (batch, heads)")
            _check_rewards(rewards, pair_rewards, batch)
            terms["pref"] = preference_loss(rewards, pair_rewards, preference, reduction="none")
            terms["div"] = diversity_loss(rewards, pair_rewards, reduction="none")
        else:
            terms["pref"] = terms["div"] = zeros
        terms["loss"] = (
            self.lambda_cls * terms["cls"]
            + self.lambda_cons * terms["cons"]
            + self.lambda_pref * terms["pref"]
            - self.lambda_div * terms["div"]
        )
        return terms

    def forward(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        preference: torch.Tensor,
        pair_logits: torch.Tensor,
        rewards: torch.Tensor | None = None,
        pair_rewards: torch.Tensor | None = None,
        soft_labels: torch.Tensor | None = None,
        pair_soft_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        terms = self.components(
            logits, labels, preference, pair_logits, rewards, pair_rewards, soft_labels, pair_soft_labels
        )
        return reduce_loss(terms["loss"], self.reduction)

    def extra_repr(self) -> str:
        return (
            f"lambda_cls={self.lambda_cls}, lambda_pref={self.lambda_pref}, lambda_cons={self.lambda_cons}, "
            f"lambda_div={self.lambda_div}, consistency={self.consistency!r}, reduction={self.reduction!r}"
        )


def soft_label_cross_entropy(logits: torch.Tensor, soft_labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The soft-label baseline of the paper: `−Σ_c s_c log p_θ(c|x)` with `s` the annotators' vote fractions."""
    check_reduction(reduction)
    _check_logits("logits", logits)
    if not isinstance(soft_labels, torch.Tensor) or not soft_labels.is_floating_point():
        raise TypeError("soft_labels must be a floating-point tensor of vote fractions")
    if soft_labels.shape != logits.shape:
        raise ValueError(f"soft_labels must have the shape of logits {tuple(logits.shape)}, got {soft_labels.shape}")
    return reduce_loss(-(soft_labels.to(logits.dtype) * logits.log_softmax(-1)).sum(-1), reduction)


__all__ = [
    "CONSISTENCIES",
    "PREFER_FIRST",
    "PREFER_SECOND",
    "TIE",
    "P2CLoss",
    "consistency_loss",
    "diversity_loss",
    "preference_from_votes",
    "preference_loss",
    "preference_probabilities",
    "preference_targets",
    "soft_label_consistency_loss",
    "soft_label_cross_entropy",
]
