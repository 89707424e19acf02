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


# ------------------------------------------------------------------------------------------- a user's own pairs


def test_user_pairs_need_prompt_and_answer_fields():
    from datasets import Dataset

    from hf_methods.common.instruct import prompt_answer_pairs

    rows = Dataset.from_list([{"question": f"{i} + 1 =", "answer": i + 1} for i in range(4)])
    assert prompt_answer_pairs(rows)[0] == ("0 + 1 =", "1")  # `question` stands for `prompt`; numbers become text
    with pytest.raises(
        ValueError, match=r"--dataset_name_or_path: .*'prompt' \(or 'question'\).*\['text', 'answer'\]"
    ):
        prompt_answer_pairs(Dataset.from_list([{"text": "2 + 2 =", "answer": "4"}]))
    with pytest.raises(ValueError, match="row 1 has an empty"):
        prompt_answer_pairs(Dataset.from_list([{"prompt": "a", "answer": "b"}, {"prompt": "a", "answer": " "}]))


def test_split_pairs_holds_out_rows_that_never_train():
    from hf_methods.common.instruct import split_pairs

    pairs = [(f"q{i}", str(i)) for i in range(10)]
    train, held_out = split_pairs(pairs, n_train=5, n_eval=3)
    assert len(train) == 5 and len(held_out) == 3 and not set(train) & set(held_out)
    assert split_pairs(pairs, 5, 3) == (train, held_out)  # fixed, whatever the run's seed
    with pytest.raises(ValueError, match="too few"):
        split_pairs(pairs[:2], 5, 2)


def test_user_sft_dataset_masks_the_prompt_and_cuts_it_on_the_left():
    from hf_methods.common.instruct import user_sft_dataset
    from hf_methods.common.tiny import byte_tokenizer

    tokenizer = byte_tokenizer()
    (row,) = user_sft_dataset([("a long prompt " * 5, "42")], tokenizer, max_length=16)
    answer = tokenizer("42" + tokenizer.eos_token, add_special_tokens=False).input_ids
    assert len(row["input_ids"]) == 16 and row["input_ids"][-len(answer) :] == answer
    assert row["labels"] == [-100] * (16 - len(answer)) + answer
    (plain,) = user_sft_dataset([("2 + 2 =", "4")], tokenizer, max_length=64, chat_template=False)
    assert tokenizer.decode(plain["input_ids"]).startswith("Question: 2 + 2 =\nAnswer: 4")
