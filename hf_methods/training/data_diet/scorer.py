"""Scores early in training, averaged over independent runs: `ScoreRecorderCallback`, `EL2NScorer`, `GraNdScorer`.

The paper's recipe (Paul, Ganguli & Dziugaite, NeurIPS 2021, Section 2): train K networks from independent
initialisations for a few epochs (EL2N: epoch 20 of 200 on CIFAR-10; GraNd: at initialisation, epoch 0), score every
training example with each network, and average the K scores. The scorers run those K short trainings with
`transformers.Trainer` and a [`ScoreRecorderCallback`] that scores the data set at the chosen epoch.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Sequence

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from .scores import compute_el2n, compute_grand

SCORE_FUNCTIONS = {"el2n": compute_el2n, "grand": compute_grand}


def _check_score_names(scores: Sequence[str]) -> tuple[str, ...]:
    if isinstance(scores, str):
        scores = (scores,)
    scores = tuple(scores)
    unknown = [s for s in scores if s not in SCORE_FUNCTIONS]
    if not scores or unknown:
        raise ValueError(f"scores must be a non-empty subset of {sorted(SCORE_FUNCTIONS)}, got {list(scores)}")
    return scores


class ScoreRecorderCallback(TrainerCallback):
    """A `TrainerCallback` that scores a data set with the model being trained at chosen epochs.

    Epoch 0 is scored when training begins (the initialisation, GraNd's usual time); epoch t ≥ 1 at the end of the
    t-th epoch. The scores are kept in `history[epoch][score_name]` (CPU tensors, one value per example, in
    the data set's order).

    Args:
        dataset (`datasets.Dataset`): the examples to score (usually the training set itself).
        scores (`str` or sequence of `str`, *optional*, defaults to `("el2n",)`): any of `"el2n"`, `"grand"`.
        epochs (sequence of `int`, *optional*, defaults to `(3,)`): the epochs at which to score.
        batch_size (`int`, *optional*, defaults to 256): examples per scoring pass.
        label_column (`str`, *optional*, defaults to `"labels"`): the label column of `dataset`.
        chunk_size (`int`, *optional*): `vmap` chunk size of GraNd.

    Example:

    ```python
    >>> recorder = ScoreRecorderCallback(train_ds, scores=("el2n", "grand"), epochs=(0, 3))
    >>> Trainer(model=model, args=args, train_dataset=train_ds, callbacks=[recorder]).train()
    >>> el2n_at_epoch_3 = recorder.history[3]["el2n"]
    ```
    """

    def __init__(
        self,
        dataset,
        *,
        scores: str | Sequence[str] = ("el2n",),
        epochs: Sequence[int] = (3,),
        batch_size: int = 256,
        label_column: str = "labels",
        chunk_size: int | None = None,
    ):
        from datasets import Dataset

        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a datasets.Dataset, got {type(dataset).__name__}")
        self.scores = _check_score_names(scores)
        epochs = tuple(epochs)
        if not epochs or any(not isinstance(e, int) or isinstance(e, bool) or e < 0 for e in epochs):
            raise ValueError(f"epochs must be a non-empty sequence of integers >= 0, got {list(epochs)}")
        self.dataset, self.epochs = dataset, epochs
        self.batch_size, self.label_column, self.chunk_size = batch_size, label_column, chunk_size
        self.history: dict[int, dict[str, torch.Tensor]] = {}

    def score_model(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Every requested score of `model` on the data set."""
        out = {}
        for name in self.scores:
            kwargs = {"chunk_size": self.chunk_size} if name == "grand" else {}
            out[name] = SCORE_FUNCTIONS[name](
                model, self.dataset, batch_size=self.batch_size, label_column=self.label_column, **kwargs
            )
        return out

    def _record(self, epoch: int, model) -> None:
        if epoch in self.epochs and epoch not in self.history and model is not None:
            self.history[epoch] = self.score_model(model)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._record(0, model)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self._record(int(round(state.epoch or 0)), model)


def default_scoring_args(output_dir: str | None = None, **overrides) -> TrainingArguments:
    """`TrainingArguments` of the official scoring runs: SGD with Nesterov momentum 0.9, learning rate 0.1, weight
    decay 5e-4, batch 128, constant rate over the few scoring epochs; nothing saved, logged or reported."""
    defaults = dict(
        output_dir=output_dir or tempfile.mkdtemp(prefix="data-diet-scoring-"),
        per_device_train_batch_size=128,
        learning_rate=0.1,
        optim="sgd",
        optim_args="momentum=0.9,nesterov=True",
        weight_decay=5e-4,
        lr_scheduler_type="constant",
        save_strategy="no",
        logging_strategy="no",
        eval_strategy="no",
        report_to=[],
        disable_tqdm=True,
    )
    return TrainingArguments(**{**defaults, **overrides})


class _EarlyScorer:
    score_name: str = ""
    default_epoch: int = 0

    def __init__(
        self,
        model_init: Callable[[], nn.Module],
        *,
        n_runs: int = 10,
        score_epoch: int | None = None,
        training_args: TrainingArguments | None = None,
        seed: int = 0,
        batch_size: int = 256,
        label_column: str = "labels",
        chunk_size: int | None = None,
    ):
        if isinstance(model_init, nn.Module) or not callable(model_init):
            raise TypeError(f"model_init must be a callable returning a fresh model, got {type(model_init).__name__}")
        if not isinstance(n_runs, int) or isinstance(n_runs, bool) or n_runs < 1:
            raise ValueError(f"n_runs must be a positive integer, got {n_runs!r}")
        score_epoch = self.default_epoch if score_epoch is None else score_epoch
        if not isinstance(score_epoch, int) or isinstance(score_epoch, bool) or score_epoch < 0:
            raise ValueError(f"score_epoch must be an integer >= 0, got {score_epoch!r}")
        if training_args is not None and not isinstance(training_args, TrainingArguments):
            raise TypeError(
                f"training_args must be transformers.TrainingArguments, got {type(training_args).__name__}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model_init, self.n_runs, self.score_epoch, self.seed = model_init, n_runs, score_epoch, seed
        self.training_args = training_args
        self.batch_size, self.label_column, self.chunk_size = batch_size, label_column, chunk_size
        self.run_scores: torch.Tensor | None = None

    def run_args(self, run: int) -> TrainingArguments:
        """The `TrainingArguments` of scoring run `run`: the given (or default) ones, seeded `seed + run`, trained
        for exactly `score_epoch` epochs."""
        args = copy.copy(self.training_args) if self.training_args is not None else default_scoring_args()
        args.seed = self.seed + run
        args.num_train_epochs = self.score_epoch
        args.max_steps = -1
        return args

    def score_run(self, run: int, dataset) -> torch.Tensor:
        """One run: a fresh model (seeded `seed + run`), trained `score_epoch` epochs on `dataset`, then scored."""
        set_seed(self.seed + run)
        model = self.model_init()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model_init must return an nn.Module, got {type(model).__name__}")
        recorder = ScoreRecorderCallback(
            dataset,
            scores=(self.score_name,),
            epochs=(self.score_epoch,),
            batch_size=self.batch_size,
            label_column=self.label_column,
            chunk_size=self.chunk_size,
        )
        if self.score_epoch == 0:
            return recorder.score_model(model)[self.score_name]
        trainer = Trainer(model=model, args=self.run_args(run), train_dataset=dataset, callbacks=[recorder])
        for quiet in (PrinterCallback, ProgressCallback):  # K short runs: no per-run printout or progress bar
            trainer.remove_callback(quiet)
        trainer.train()
        if self.score_epoch not in recorder.history:
            raise RuntimeError(f"training stopped before epoch {self.score_epoch}: no score was recorded")
        return recorder.history[self.score_epoch][self.score_name]

    def score(self, dataset) -> torch.Tensor:
        """The score of every example of `dataset`, averaged over `n_runs` independent runs.

        The per-run scores stay in `run_scores` (shape `(n_runs, len(dataset))`).
        """
        from datasets import Dataset

        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a datasets.Dataset, got {type(dataset).__name__}")
        if len(dataset) == 0:
            raise ValueError("dataset is empty: nothing to score")
        self.run_scores = torch.stack([self.score_run(run, dataset) for run in range(self.n_runs)])
        return self.run_scores.mean(dim=0)


class EL2NScorer(_EarlyScorer):
    """EL2N scores a few epochs into training, averaged over independent runs.

    Each run builds a fresh model with `model_init()` (after `transformers.set_seed(seed + run)`), trains it with
    `transformers.Trainer` for `score_epoch` epochs on the data set to be scored, and records EL2N
    (‖softmax(f(x)) − e_y‖₂, see [`el2n_scores`]) of every example; `score` returns the mean over runs.

    Args:
        model_init (`Callable[[], nn.Module]`): builds a fresh, randomly initialised classifier.
        n_runs (`int`, *optional*, defaults to 10): independent runs averaged (10 in the paper).
        score_epoch (`int`, *optional*, defaults to 3): epochs trained before scoring (the paper uses epoch 20 of a
            200-epoch CIFAR-10 schedule, i.e. 10% of training; 0 scores the initialisation).
        training_args (`TrainingArguments`, *optional*): the scoring runs' arguments (their `seed`,
            `num_train_epochs` and `max_steps` are set per run); default [`default_scoring_args`].
        seed (`int`, *optional*, defaults to 0): run r is seeded `seed + r`.
        batch_size (`int`, *optional*, defaults to 256): examples per scoring pass.
        label_column (`str`, *optional*, defaults to `"labels"`).

    Example:

    ```python
    >>> scores = EL2NScorer(model_init=make_model, n_runs=5, score_epoch=3).score(train_ds)
    >>> subset = prune_dataset(train_ds, scores, keep_frac=0.5)
    ```
    """

    score_name = "el2n"
    default_epoch = 3


class GraNdScorer(_EarlyScorer):
    """GraNd scores (the norm of each example's loss gradient over all parameters), averaged over runs.

    Same as [`EL2NScorer`] with GraNd (see [`compute_grand`]: `torch.func.vmap` of per-example gradients) as the
    score and `score_epoch=0` (at initialisation, as in the paper) by default. `chunk_size` bounds the memory of the
    vectorised per-example gradients.
    """

    score_name = "grand"
    default_epoch = 0


__all__ = ["EL2NScorer", "GraNdScorer", "ScoreRecorderCallback", "default_scoring_args"]
