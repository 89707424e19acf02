"""The in-code instruction task (hf_methods.common.instruct)."""

import pytest
import torch

from hf_methods.common import instruct
from hf_methods.common.tiny import byte_tokenizer, tiny_llama


def test_problems_have_exact_answers():
    problems = instruct.arithmetic_problems(300, seed=0)
    assert problems == instruct.arithmetic_problems(300, seed=0)
    assert problems != instruct.arithmetic_problems(300, seed=1)
    for p in problems:
        numbers = [int(n) for n in instruct.re.findall(r"\d+", p.question)]
        a, b = numbers
        q = p.question
        if "more" in q or "altogether" in q:
            expected = a + b
        elif "gave away" in q or "sold" in q:
            expected = a - b
        elif "bags with" in q:
            expected = a * b
        else:  # "packs {b} into each of {a} crates": the numbers appear as b, a
            expected = a * b
        assert int(p.answer) == expected >= 0, p


def test_sft_dataset_masks_the_prompt():
    tok = byte_tokenizer()
    problems = instruct.arithmetic_problems(4, seed=0)
    ds = instruct.build_sft_dataset(problems, tok, max_length=200)
    batch = instruct.collate_sft(tok.pad_token_id)([ds[i] for i in range(4)])
    for row, p in zip(range(4), problems):
        answer_ids = batch["input_ids"][row][batch["labels"][row] != -100]
        assert tok.decode(answer_ids) == p.answer + tok.eos_token
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    with pytest.raises(ValueError, match="max_length"):
        instruct.build_sft_dataset(problems, tok, max_length=2)


def test_exact_match_and_loss_run_on_a_tiny_model():
    tok = byte_tokenizer()
    model = tiny_llama()
    problems = instruct.arithmetic_problems(3, seed=0)
    acc = instruct.exact_match_accuracy(model, tok, problems, max_new_tokens=2)
    assert 0.0 <= acc <= 1.0 and tok.padding_side == "right"
    ds = instruct.build_sft_dataset(problems, tok, max_length=200)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=instruct.collate_sft(tok.pad_token_id))
    assert instruct.answer_loss(model, loader) > 0
    assert instruct.first_integer("The answer is 42.") == "42" and instruct.first_integer("none") is None


def test_train_and_held_out_are_disjoint():
    train, held_out = instruct.train_and_held_out(200, 50)
    assert len(train) == 200 and len(held_out) == 50
    assert not {p.question for p in train} & {p.question for p in held_out}
