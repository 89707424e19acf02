"""Generation-matrix cases for P64 `loki`: Loki's rule at every greedy step of a tiny Llama.

Under the discrete metric Loki is argmax, so `loki-discrete` must reproduce greedy decoding token for token (with
every processor the matrix checks, since Loki reads the already-processed scores); `loki-embedding` uses the
squared-Euclidean metric between the model's own input embeddings, a rule that really differs from greedy."""

import torch

from tests.cases import GenerateCase

SUPPORTED = ("max_new_tokens", "eos_token_id", "min_new_tokens", "repetition_penalty", "suppress_tokens")
UNSUPPORTED = [({"do_sample": True}, "do_sample"), ({"num_beams": 2}, "num_beams")]


def _base():
    from hf_methods.common.tiny import tiny_llama

    model = tiny_llama(seed=0).eval()
    model.generation_config.pad_token_id = 0
    return model


def _prompt():
    g = torch.Generator().manual_seed(0)
    return {"input_ids": torch.randint(3, 259, (1, 7), generator=g)}


def _greedy(model, inputs, **kwargs):
    return model.generate(**inputs, do_sample=False, **kwargs)


def _discrete(model, inputs, **kwargs):
    from hf_methods.generation.loki import LokiPredictor, discrete_sq_dist, loki_generate

    predictor = LokiPredictor(discrete_sq_dist(model.config.vocab_size))
    return loki_generate(model, predictor, **inputs, **kwargs)


def _embedding(model, inputs, **kwargs):
    from hf_methods.generation.loki import LokiPredictor, loki_generate

    predictor = LokiPredictor(embeddings=model.get_input_embeddings().weight.detach())
    return loki_generate(model, predictor, **inputs, **kwargs)


GENERATE_CASES = [
    GenerateCase(
        name="loki-discrete",
        make_model=_base,
        make_inputs=_prompt,
        generate=_discrete,
        supports=SUPPORTED,
        reference=_greedy,
        unsupported=UNSUPPORTED,
    ),
    GenerateCase(
        name="loki-embedding",
        make_model=_base,
        make_inputs=_prompt,
        generate=_embedding,
        # the penalty reshapes P, but the Fréchet mean of P may still be an earlier token (here the token nearest the
        # mean embedding of a near-uniform P): Loki does not promise "no repeats", so the matrix does not check it
        supports=tuple(k for k in SUPPORTED if k != "repetition_penalty"),
        unsupported=UNSUPPORTED,
    ),
]
