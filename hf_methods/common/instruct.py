"""An instruction task built in code, with exact answers: arithmetic word problems for fine-tuning small chat LMs.

Recipes and claim checks that fine-tune a causal LM (PEFT adapters, side networks) need a task whose quality is
measurable offline: loss on held-out answers *and* exact-match accuracy of greedy generations. Word problems with
integer answers give both, for any size, from a seed:

```python
from hf_methods.common.instruct import arithmetic_problems, build_sft_dataset, collate_sft, exact_match_accuracy

train = arithmetic_problems(512, seed=0)
test = arithmetic_problems(128, seed=1)                       # a different seed: disjoint draws
ds = build_sft_dataset(train, tokenizer, max_length=64)       # datasets.Dataset: input_ids, attention_mask, labels
loader = DataLoader(ds, batch_size=8, shuffle=True, collate_fn=collate_sft(tokenizer.pad_token_id))
acc = exact_match_accuracy(model, tokenizer, test)
```

Labels are -100 on the prompt and padding, so the loss is the answer's (the usual supervised fine-tuning setup).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

NAMES = ("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jill", "Kai", "Lea", "Max", "Nia", "Omar")
THINGS = ("apples", "books", "coins", "pencils", "stamps", "marbles", "cards", "shells", "eggs", "boxes")

# (template, operation); {a} and {b} are operands, the answer is op(a, b) and never negative
_TEMPLATES = (
    ("{name} has {a} {thing} and gets {b} more. How many {thing} does {name} have now?", "+"),
    ("{name} had {a} {thing} and gave away {b}. How many {thing} are left?", "-"),
    ("{name} buys {a} bags with {b} {thing} in each. How many {thing} is that in total?", "*"),
    ("There are {a} {thing} on a table and {b} on a shelf. How many {thing} are there altogether?", "+"),
    ("A shop had {a} {thing} and sold {b} of them. How many {thing} does the shop still have?", "-"),
    ("{name} packs {b} {thing} into each of {a} crates. How many {thing} are packed?", "*"),
)
INSTRUCTION = "Answer with the number only."


@dataclass(frozen=True)
class Problem:
    """One word problem: the question text and its exact integer answer (as a string)."""

    question: str
    answer: str


def arithmetic_problems(n: int, seed: int = 0, max_operand: int = 30) -> list[Problem]:
    """`n` word problems (addition, subtraction, multiplication) drawn from `random.Random(seed)`."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if max_operand < 2:
        raise ValueError(f"max_operand must be >= 2, got {max_operand}")
    rng = random.Random(seed)
    problems = []
    for _ in range(n):
        template, op = rng.choice(_TEMPLATES)
        a, b = rng.randint(2, max_operand), rng.randint(2, max_operand)
        if op == "-" and b > a:
            a, b = b, a
        if op == "*":
            a, b = a % 10 + 2, b % 10 + 2  # keep products small enough for a 135M model to have a chance
        answer = {"+": a + b, "-": a - b, "*": a * b}[op]
        text = template.format(name=rng.choice(NAMES), thing=rng.choice(THINGS), a=a, b=b)
        problems.append(Problem(text, str(answer)))
    return problems


def train_and_held_out(n_train: int, n_eval: int, *, max_operand: int = 30) -> tuple[list[Problem], list[Problem]]:
    """Fixed training problems (seed 0) and held-out problems (seed 1) with no question shared between them.

    The sets do not depend on a run's seed, so runs with different seeds are compared on the same data.
    """
    train = arithmetic_problems(n_train, seed=0, max_operand=max_operand)
    seen = {p.question for p in train}
    candidates = arithmetic_problems(n_eval + 64, seed=1, max_operand=max_operand)
    held_out = [p for p in candidates if p.question not in seen][:n_eval]
    if len(held_out) < n_eval:
        raise ValueError(f"could not draw {n_eval} held-out problems disjoint from {n_train} training problems")
    return train, held_out


def sft_splits(tokenizer, n_train: int, n_eval: int, max_length: int = 64):
    """`(train_dataset, eval_dataset, eval_problems)` from :func:`train_and_held_out`, tokenized for SFT."""
    train, held_out = train_and_held_out(n_train, n_eval)
    return (
        build_sft_dataset(train, tokenizer, max_length),
        build_sft_dataset(held_out, tokenizer, max_length),
        held_out,
    )


def format_prompt(problem: Problem, tokenizer) -> str:
    """The prompt text: the tokenizer's chat template when it has one, else a plain `Question:/Answer:` layout."""
    user = f"{problem.question} {INSTRUCTION}"
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
        )
    return f"Question: {user}\nAnswer: "


def build_sft_dataset(problems: list[Problem], tokenizer, max_length: int = 64):
    """A `datasets.Dataset` of `input_ids`, `attention_mask`, `labels` (prompt and padding masked with -100).

    Examples longer than `max_length` tokens are truncated from the left of the prompt, never through the answer.
    """
    return _tokenize_sft([(format_prompt(p, tokenizer), p.answer) for p in problems], tokenizer, max_length)


# ------------------------------------------------------------------------------------------- a user's own pairs

#: Field names of a user's prompt/answer data set (`--dataset_name_or_path` of the fine-tuning recipes).
PROMPT_FIELDS = ("prompt", "question")
ANSWER_FIELD = "answer"


def prompt_answer_pairs(dataset, source: str = "--dataset_name_or_path") -> list[tuple[str, str]]:
    """`[(prompt, answer), ...]` of a user's data set (a `datasets.Dataset`, e.g. from `common.data.load_user_dataset`).

    Each row needs a `prompt` (or `question`) field and an `answer` field; numbers become text.

    Raises:
        `ValueError`: naming `source`, for a missing field (listing the fields the data has), an empty prompt or
            answer (naming the row), or an empty data set.
    """
    columns = list(dataset.column_names)
    prompt_field = next((name for name in PROMPT_FIELDS if name in columns), None)
    if prompt_field is None or ANSWER_FIELD not in columns:
        raise ValueError(
            f"{source}: each row needs a 'prompt' (or 'question') field and an 'answer' field (what the model learns "
            f"to write after the prompt); the data set has the fields {columns}"
        )
    pairs = []
    for i, row in enumerate(dataset):
        prompt, answer = row[prompt_field], row[ANSWER_FIELD]
        if prompt is None or answer is None or not str(prompt).strip() or not str(answer).strip():
            raise ValueError(f"{source}: row {i} has an empty {prompt_field!r} or 'answer'")
        pairs.append((str(prompt), str(answer)))
    if not pairs:
        raise ValueError(f"{source}: the data set has no rows")
    return pairs


def split_pairs(pairs: list, n_train: int, n_eval: int, seed: int = 0) -> tuple[list, list]:
    """`(train, held_out)`: `n_eval` rows held out at random (a fixed `seed`, independent of any run's seed), at most
    `n_train` of the others (in their original order) for training.

    Raises:
        `ValueError`: fewer than `n_eval + 1` rows.
    """
    if len(pairs) <= n_eval:
        raise ValueError(f"the data set has {len(pairs)} rows: too few to hold out {n_eval} (--n_eval) and train")
    order = random.Random(seed).sample(range(len(pairs)), len(pairs))
    held_out = [pairs[i] for i in order[:n_eval]]
    train = [pairs[i] for i in sorted(order[n_eval:])][:n_train]
    return train, held_out


def user_sft_dataset(pairs: list[tuple[str, str]], tokenizer, max_length: int = 64, *, chat_template: bool = True):
    """A user's `(prompt, answer)` pairs tokenized as :func:`build_sft_dataset` does the word problems: the prompt in
    the tokenizer's chat template (when it has one and `chat_template`) or the plain `Question:/Answer:` layout, loss
    on the answer and EOS tokens only, prompts cut on the left to fit `max_length`."""

    def prompt_text(prompt: str) -> str:
        if chat_template and getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        return f"Question: {prompt}\nAnswer: "

    return _tokenize_sft([(prompt_text(prompt), answer) for prompt, answer in pairs], tokenizer, max_length)


def _tokenize_sft(texts: list[tuple[str, str]], tokenizer, max_length: int):
    """`(formatted prompt, answer)` pairs -> `input_ids`, `attention_mask`, `labels` (-100 on the prompt)."""
    from datasets import Dataset

    eos = tokenizer.eos_token or ""
    rows = []
    for prompt, answer in texts:
        prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
        answer_ids = tokenizer(answer + eos, add_special_tokens=False).input_ids
        if len(answer_ids) >= max_length:
            raise ValueError(
                f"max_length={max_length} cannot hold the answer {answer[:40]!r} ({len(answer_ids)} tokens)"
            )
        prompt_ids = prompt_ids[-(max_length - len(answer_ids)) :]
        ids = prompt_ids + answer_ids
        rows.append(
            {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * len(prompt_ids) + answer_ids}
        )
    return Dataset.from_list(rows)


def collate_sft(pad_token_id: int):
    """A collate function right-padding `input_ids`/`attention_mask`/`labels` to the longest row of the batch."""
    import torch

    def collate(rows):
        width = max(len(r["input_ids"]) for r in rows)
        out = {"input_ids": [], "attention_mask": [], "labels": []}
        for r in rows:
            pad = width - len(r["input_ids"])
            out["input_ids"].append(list(r["input_ids"]) + [pad_token_id] * pad)
            out["attention_mask"].append(list(r["attention_mask"]) + [0] * pad)
            out["labels"].append(list(r["labels"]) + [-100] * pad)
        return {k: torch.tensor(v) for k, v in out.items()}

    return collate


def first_integer(text: str) -> str | None:
    match = re.search(r"-?\d+", text)
    return match.group(0) if match else None


def exact_match_accuracy(
    model, tokenizer, problems: list[Problem], *, batch_size: int = 16, max_new_tokens: int = 6
) -> float:
    """Share of problems whose greedy answer's first integer equals the exact answer (left-padded batches)."""
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    correct = 0
    try:
        for i in range(0, len(problems), batch_size):
            chunk = problems[i : i + batch_size]
            batch = tokenizer(
                [format_prompt(p, tokenizer) for p in chunk],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            )
            with torch.no_grad():
                out = model.generate(
                    **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
            correct += sum(first_integer(t) == p.answer for t, p in zip(texts, chunk))
    finally:
        tokenizer.padding_side = side
    return correct / len(problems)


def answer_loss(model, loader) -> float:
    """Mean cross-entropy per answer token over a loader of `build_sft_dataset` batches."""
    import torch

    total, tokens = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            n = int((batch["labels"][:, 1:] != -100).sum())
            total += model(**batch).loss.item() * n
            tokens += n
    return total / max(tokens, 1)


__all__ = [
    "Problem",
    "answer_loss",
    "arithmetic_problems",
    "build_sft_dataset",
    "collate_sft",
    "exact_match_accuracy",
    "first_integer",
    "format_prompt",
    "sft_splits",
    "train_and_held_out",
]
