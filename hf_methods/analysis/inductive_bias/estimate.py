"""Inductive bias as −log P(error ≤ ε) over a hypothesis space, from sampled hypotheses' test errors.

Boopathy et al. ("Towards Exact Computation of Inductive Bias", IJCAI 2024; official code
`FieteLab/Exact-Inductive-Bias`, `utils.py`) define the inductive bias a task needs, for a hypothesis space that fits
the training data, as the information required to single out a hypothesis with test error at most ε:

    I(ε) = −log P_{h ~ H}(err(h) ≤ ε).

The errors of sampled hypotheses are modelled by a scaled non-central χ² (a quadratic form of Gaussian outputs is
one); with its parameters (k, λ, scale) fitted by maximum likelihood (`scipy.stats.ncx2.fit`, location fixed at 0),
I(ε) = −log F_{ncx2}(ε; k, λ, 0, scale) in nats (÷ ln 2 for bits). Far in the lower tail the log-CDF underflows; the
official code then switches to Sankaran's normal approximation of the non-central χ²,

    z = ((x/(k+λ))^h − (1 + h p (h − 1 − ½(2 − h) m p))) / (h √(2p) (1 + ½ m p)),
    h = 1 − ⅔ (k+λ)(k+3λ)/(k+2λ)²,  p = (k+2λ)/(k+λ)²,  m = (h − 1)(1 − 3h),  x = ε / scale,

and keeps z²/2; here −log Φ(z) is computed exactly (`scipy.special.log_ndtr`), of which z²/2 is the leading term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hf_methods.common.checks import check_number

__all__ = ["InductiveBias", "NCX2Fit", "fit_error_distribution", "inductive_bias_from_errors", "ncx2_inductive_bias"]


@dataclass
class NCX2Fit:
    """A scaled non-central χ² (`scipy.stats.ncx2` parameters; `loc` is fixed at 0)."""

    df: float
    nc: float
    loc: float
    scale: float


def fit_error_distribution(errors) -> NCX2Fit:
    """Maximum-likelihood scaled non-central χ² of sampled test errors (`ncx2.fit(errors, floc=0)`)."""
    from scipy.stats import ncx2

    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    if errors.size < 3:
        raise ValueError(f"errors must hold at least 3 sampled hypotheses' errors, got {errors.size}")
    if not np.isfinite(errors).all() or (errors <= 0).any():
        raise ValueError("errors must be finite and positive (test losses of sampled hypotheses)")
    df, nc, loc, scale = ncx2.fit(errors, floc=0)
    return NCX2Fit(df=float(df), nc=float(nc), loc=float(loc), scale=float(scale))


def _sankaran_z(error: float, fit: NCX2Fit) -> float:
    k, lam = fit.df, fit.nc
    x = (error - fit.loc) / fit.scale
    h = 1 - 2 / 3 * (k + lam) * (k + 3 * lam) / (k + 2 * lam) ** 2
    p = (k + 2 * lam) / (k + lam) ** 2
    m = (h - 1) * (1 - 3 * h)
    numerator = (x / (k + lam)) ** h - (1 + h * p * (h - 1 - 0.5 * (2 - h) * m * p))
    return float(numerator / (h * math.sqrt(2 * p) * (1 + 0.5 * m * p)))


def ncx2_inductive_bias(target_error: float, fit: NCX2Fit) -> tuple[float, str]:
    """`(I(ε) in nats, how it was computed)`: "logcdf", or "normal-tail" where the log-CDF underflows."""
    from scipy.special import log_ndtr
    from scipy.stats import ncx2

    check_number("target_error", target_error, low=0.0, low_open=True)
    log_p = float(ncx2.logcdf(target_error, fit.df, fit.nc, loc=fit.loc, scale=fit.scale))
    if np.isfinite(log_p):
        return -log_p, "logcdf"
    return float(-log_ndtr(_sankaran_z(target_error, fit))), "normal-tail"


@dataclass
class InductiveBias:
    """The inductive bias of a hypothesis space for a task at a target error, and what it was computed from."""

    target_error: float
    nats: float
    bits: float
    method: str  # "logcdf" or "normal-tail"
    df: float
    nc: float
    scale: float
    n_samples: int
    empirical_fraction_below: float  # the sampled errors' own P(err ≤ ε) (0 when ε is below them all)
    mean_error: float
    min_error: float
    errors: list[float]

    def save_plot(self, path) -> None:
        """Histogram of the sampled errors with the fitted density and the target error marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from scipy.stats import ncx2

        errors = np.asarray(self.errors)
        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        ax.hist(errors, bins=40, density=True, alpha=0.5, label=f"{self.n_samples} sampled hypotheses")
        grid = np.linspace(min(errors.min(), self.target_error) * 0.9, errors.max() * 1.05, 300)
        ax.plot(grid, ncx2.pdf(grid, self.df, self.nc, scale=self.scale), label="fitted scaled ncx2")
        ax.axvline(self.target_error, color="k", ls="--", label=f"ε = {self.target_error:.3g}")
        ax.set_xlabel("test error")
        ax.set_ylabel("density")
        ax.set_title(f"inductive bias {self.bits:.1f} bits ({self.nats:.1f} nats, {self.method})", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def inductive_bias_from_errors(errors, target_error: float, *, fit: NCX2Fit | None = None) -> InductiveBias:
    """I(ε) from sampled hypotheses' test errors (fits the scaled ncx2 unless `fit` is given)."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    fit = fit or fit_error_distribution(errors)
    nats, method = ncx2_inductive_bias(target_error, fit)
    return InductiveBias(
        target_error=float(target_error),
        nats=nats,
        bits=nats / math.log(2),
        method=method,
        df=fit.df,
        nc=fit.nc,
        scale=fit.scale,
        n_samples=int(errors.size),
        empirical_fraction_below=float(np.mean(errors <= target_error)),
        mean_error=float(errors.mean()),
        min_error=float(errors.min()),
        errors=errors.tolist(),
    )
