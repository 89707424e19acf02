# Copyright 2025 The hf-methods contributors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Offline few-shot classification tasks for ACT's head search and claim (stand-ins for SST-2 / AGNews / TREC).

- `"corpus-source"`: which corpus a passage comes from (King James Bible, Jargon File, Python docs), 3 classes.
- `"wordnet-pos"`: the part of speech of a WordNet word from its gloss (noun, verb, adjective, adverb), 4 classes.

Each example is `{"text": prompt, "choices": [label words], "label": int}`, scored by the log-softmax of each label
word's first token at the last prompt position, as the official code scores its classification tasks. Examples of
your own task, in the same three columns (e.g. a JSONL file), go through `choice_examples`.
"""

from __future__ import annotations

import random

TASKS = ("corpus-source", "wordnet-pos")

_CORPUS_LABELS = {"bible": " bible", "jargon": " jargon", "python-docs": " python"}
_POS_LABELS = {"noun": " noun", "verb": " verb", "adj": " adjective", "adv": " adverb"}


def _pools(task: str, seed_pool: int = 0) -> tuple[dict[str, list[str]], dict[str, str], str, str]:
    from hf_methods.common.data import load_corpus, load_wordnet_glosses

    if task == "corpus-source":
        pools = {name: load_corpus(name, min_chars=80) for name in _CORPUS_LABELS}
        return pools, _CORPUS_LABELS, "Which text does each passage come from: bible, jargon or python?\n", "Source:"
    if task == "wordnet-pos":
        pools: dict[str, list[str]] = {pos: [] for pos in _POS_LABELS}
        for gloss in load_wordnet_glosses(max_per_pos=4000):
            if " " not in gloss.word:
                pools[gloss.pos].append(f"{gloss.word}: {gloss.definition}")
        return pools, _POS_LABELS, "Give the part of speech of each word: noun, verb, adjective or adverb.\n", "Type:"
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def _clip(text: str, words: int, rng: random.Random | None = None, min_words: int | None = None) -> str:
    if min_words is not None:
        words = rng.randint(min_words, words)
    return " ".join(text.split()[:words])


def build_fewshot_task(
    task: str = "corpus-source",
    num_examples: int = 32,
    shots: int = 3,
    words: int = 8,
    seed: int = 0,
    exclude: set[str] | None = None,
    min_words: int | None = None,
) -> list[dict]:
    """`num_examples` few-shot prompts of `task` (balanced labels), each with `shots` demonstrations.

    Args:
        task (`str`, *optional*, defaults to `"corpus-source"`): one of `TASKS`.
        num_examples (`int`, *optional*, defaults to 32): number of prompts.
        shots (`int`, *optional*, defaults to 3): demonstrations per prompt (random labels, balanced when
            `shots` is a multiple of the number of classes).
        words (`int`, *optional*, defaults to 8): passages / glosses are clipped to this many words.
        min_words (`int`, *optional*): when set, only passages of at least `min_words` words are used, each clipped
            to a length drawn uniformly from `[min_words, words]` (e.g. 16-32-word passages).
        seed (`int`, *optional*, defaults to 0): the draw.
        exclude (`set[str]`, *optional*): query passages not to use (e.g. those of a calibration split); the used
            queries are added to it.

    Returns:
        `list[dict]` of `{"text", "choices", "label", "query"}`.
    """
    if not isinstance(num_examples, int) or num_examples < 1:
        raise ValueError(f"num_examples must be a positive int, got {num_examples!r}")
    if not isinstance(shots, int) or shots < 0:
        raise ValueError(f"shots must be an int >= 0, got {shots!r}")
    if not isinstance(words, int) or words < 1:
        raise ValueError(f"words must be a positive int, got {words!r}")
    if min_words is not None and not (isinstance(min_words, int) and 1 <= min_words <= words):
        raise ValueError(f"min_words must be an int in [1, words={words}], got {min_words!r}")
    pools, label_words, instruction, field = _pools(task)
    if min_words is not None:
        pools = {name: [t for t in texts if len(t.split()) >= min_words] for name, texts in pools.items()}
        empty = [name for name, texts in pools.items() if not texts]
        if empty:
            raise ValueError(f"{task}: no passage of >= {min_words} words for {empty}")
    names = list(label_words)
    choices = [label_words[n] for n in names]
    rng = random.Random(f"{task}-{seed}")
    exclude = exclude if exclude is not None else set()
    out = []
    for i in range(num_examples):
        label = i % len(names)
        while True:
            query = _clip(rng.choice(pools[names[label]]), words, rng, min_words)
            if query not in exclude:
                break
        exclude.add(query)
        demo_labels = [j % len(names) for j in range(shots)]
        rng.shuffle(demo_labels)
        lines = [instruction]
        for j in demo_labels:
            demo = _clip(rng.choice(pools[names[j]]), words, rng, min_words)
            lines.append(f"Text: {demo}\n{field}{label_words[names[j]]}\n")
        lines.append(f"Text: {query}\n{field}")
        out.append({"text": "".join(lines), "choices": choices, "label": label, "query": query})
    rng.shuffle(out)
    return out


def choice_examples(rows, source: str = "dataset") -> list[dict]:
    """Checked multiple-choice examples `{"text", "choices", "label"}` from rows of a data set (e.g. a JSONL file).

    Each row needs `text` (the prompt, demonstrations included), `choices` (two or more label strings, each scored by
    its first token, usually with a leading space) and `label` (the index of the correct choice); other columns are
    ignored.

    Raises:
        `ValueError` naming `source` and the row: a missing column or a value of the wrong kind.
    """
    out = []
    for i, row in enumerate(rows):
        missing = {"text", "choices", "label"} - set(row)
        if missing:
            raise ValueError(f"{source} row {i}: missing column(s) {sorted(missing)} (needs text, choices, label)")
        text, choices, label = row["text"], row["choices"], row["label"]
        if not isinstance(text, str) or not text:
            raise ValueError(f"{source} row {i}: 'text' must be a non-empty string, got {text!r}")
        if isinstance(choices, str) or not isinstance(choices, (list, tuple)) or len(choices) < 2:
            raise ValueError(f"{source} row {i}: 'choices' must be a list of >= 2 strings, got {choices!r}")
        if not all(isinstance(c, str) and c for c in choices):
            raise ValueError(f"{source} row {i}: every choice must be a non-empty string, got {choices!r}")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(choices):
            raise ValueError(f"{source} row {i}: 'label' must be an int in [0, {len(choices)}), got {label!r}")
        out.append({"text": text, "choices": list(choices), "label": label})
    if not out:
        raise ValueError(f"{source} has no rows")
    return out


__all__ = ["TASKS", "build_fewshot_task", "choice_examples"]
