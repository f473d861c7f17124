"""TransformersRewardModel on a tiny randomly initialised model that the test creates and saves."""

import numpy as np
import pytest

from hia import RewardModelError
from hia.rewards.transformers_rm import TransformersRewardModel


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        PreTrainedTokenizerFast,
    )

    words = "[PAD] [UNK] [CLS] [SEP] how do i keep basil alive indoors water it give sun and soil daily".split()
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]",
                                        cls_token="[CLS]", sep_token="[SEP]")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=3,
                        id2label={0: "helpfulness", 1: "verbosity", 2: "safety"},
                        label2id={"helpfulness": 0, "verbosity": 1, "safety": 2})
    path = tmp_path_factory.mktemp("tiny-rm")
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_heads_from_id2label_batches_and_ranges(tiny_model):
    rm = TransformersRewardModel(tiny_model, batch_size=2, device="cpu")
    assert rm.heads == {"helpfulness": 0, "verbosity": 1}  # 'safety' is no known attribute
    prompts = ["how do i keep basil alive indoors"] * 5
    responses = ["water it", "give sun", "water it daily and give sun and soil", "soil", "sun"]
    scores = rm.score(prompts, responses, ["verbosity", "helpfulness"])
    assert scores.shape == (5, 2) and np.all((scores >= 0) & (scores <= 4))
    one_by_one = np.vstack([rm.score([p], [r], ["verbosity", "helpfulness"]) for p, r in zip(prompts, responses)])
    assert np.allclose(scores, one_by_one, atol=1e-5)  # batching (with padding) changes nothing
    raw = rm.raw(prompts, responses)
    assert np.allclose(scores[:, 0], np.clip(raw[:, 1], 0, 4), atol=1e-6)
    assert np.allclose(scores[:, 1], np.clip(raw[:, 0], 0, 4), atol=1e-6)


def test_explicit_heads_and_affine_mapping(tiny_model):
    rm = TransformersRewardModel(tiny_model, heads={"complexity": 2}, affine={"complexity": (100.0, 2.0)}, device="cpu")
    prompts, responses = ["how"] * 3, ["sun", "water it daily", "soil and sun"]
    raw = rm.raw(prompts, responses)
    # a random model's heads differ by little: the slope makes a wrong head index show
    assert np.all(100.0 * np.abs(raw[:, 2] - raw[:, [0, 1]].T) > 0.01)
    assert np.allclose(rm.score(prompts, responses, ["complexity"])[:, 0], np.clip(100.0 * raw[:, 2] + 2.0, 0, 4),
                       atol=1e-4)
    with pytest.raises(RewardModelError, match="no head for"):
        rm.score(["how"], ["sun"], ["verbosity"])


def test_bad_configuration_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(RewardModelError, match="out of range"):
        TransformersRewardModel(tiny_model, heads={"helpfulness": 7}, device="cpu")
    with pytest.raises(RewardModelError, match="could not load reward model"):
        TransformersRewardModel(str(tmp_path / "nothing-here"), device="cpu")
