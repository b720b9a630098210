"""The sentiment model through its real loading path, on tiny random-weight models built here.

Nothing touches the Hub: the models are local folders and HF_HUB_OFFLINE is on for every test.
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from ai import InvalidText, SentimentModel, aggregate, map_labels, UnmappableLabels
from ai.lexicon import LexiconSentiment
from tiny_model import POSITIONS, WORDS, build_tiny_model

THREE_NAMED = {0: "Bearish", 1: "Neutral", 2: "Bullish"}
THREE_GENERIC = {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
TWO_NAMED = {0: "POSITIVE", 1: "NEGATIVE"}          # not in the usual order: names decide
EMOTIONS = {0: "joy", 1: "anger", 2: "fear"}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "named": build_tiny_model(root / "named", THREE_NAMED),
        "generic": build_tiny_model(root / "generic", THREE_GENERIC),
        "two": build_tiny_model(root / "two", TWO_NAMED),
        "emotions": build_tiny_model(root / "emotions", EMOTIONS),
    }


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may reach the Hub. huggingface_hub reads the variable once at import, so set both."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def settle(model: SentimentModel, timeout: float = 60.0) -> str:
    """Poll until the model leaves `loading` (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    while model.state == "loading" and time.monotonic() < deadline:
        time.sleep(0.01)
    return model.state


def loaded_from_env(monkeypatch, folder: Path) -> SentimentModel:
    monkeypatch.setenv("SENTIMENT_MODEL", str(folder))
    model = SentimentModel()
    assert model.start() is True
    assert settle(model) == "loaded", model.status()["last_error"]
    return model


@pytest.fixture
def named_model(monkeypatch, tiny_models) -> SentimentModel:
    return loaded_from_env(monkeypatch, tiny_models["named"])


def sentence(n_words: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n_words))


# ---------------------------------------------------------------------------- loading

def test_loads_in_background_from_env_and_reports_measured_status(monkeypatch, tiny_models):
    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification

    monkeypatch.setenv("SENTIMENT_MODEL", str(tiny_models["named"]))
    model = SentimentModel()
    assert model.status()["state"] == "not_started"
    assert model.start() is True
    assert model.state == "loading"
    assert model.status()["engine"] == "lexicon"
    assert settle(model) == "loaded"
    assert model.start() is False and model.retry() is False   # nothing to redo

    status = model.status()
    reference = AutoModelForSequenceClassification.from_pretrained(tiny_models["named"])
    assert status["model"] == str(tiny_models["named"])
    assert status["engine"] == "transformers"
    assert status["device"] == "CPU"
    assert status["transformers_version"] == transformers.__version__
    assert status["torch_version"] == torch.__version__
    assert 1 <= status["threads"] <= 2
    assert status["threads"] == torch.get_num_threads()
    assert status["load_time_s"] > 0
    assert status["parameters"] == sum(p.numel() for p in reference.parameters()) > 0
    assert status["memory_mb"] > 0
    assert status["labels"] == {"Bearish": "bearish", "Neutral": "neutral", "Bullish": "bullish"}
    assert status["max_length"] == POSITIONS
    assert status["last_error"] is None
    assert (status["inferences"], status["batches"], status["lexicon_inferences"]) == (0, 0, 0)
    assert status["avg_ms"] is None and status["p95_ms"] is None


def test_generic_labels_map_by_position(monkeypatch, tiny_models):
    model = loaded_from_env(monkeypatch, tiny_models["generic"])
    assert model.status()["labels"] == {"LABEL_0": "bearish", "LABEL_1": "neutral",
                                        "LABEL_2": "bullish"}
    assert model.analyze(["btc moon"])[0]["label"] in {"bullish", "neutral", "bearish"}


def test_two_named_labels_map_by_name(monkeypatch, tiny_models):
    model = loaded_from_env(monkeypatch, tiny_models["two"])
    assert model.status()["labels"] == {"POSITIVE": "bullish", "NEGATIVE": "bearish"}
    results = model.analyze(["btc moon", "eth crash", "sell the rally"])
    assert {r["label"] for r in results} <= {"bullish", "bearish"}
    assert all(0.5 <= r["score"] <= 1.0 for r in results)   # the winner of two classes


def test_unmappable_labels_fail_the_load_with_the_reason(monkeypatch, tiny_models):
    monkeypatch.setenv("SENTIMENT_MODEL", str(tiny_models["emotions"]))
    model = SentimentModel()
    model.start()
    assert settle(model) == "failed"
    assert "joy" in model.status()["last_error"]
    assert model.analyze(["btc moon"])[0]["engine"] == "lexicon"


def test_missing_model_fails_then_lexicon_answers_then_retry_loads(monkeypatch, tiny_models):
    monkeypatch.setenv("SENTIMENT_MODEL", "no-such-org/no-such-model")
    model = SentimentModel()
    model.start()
    assert settle(model) == "failed"
    status = model.status()
    assert status["model"] == "no-such-org/no-such-model"
    assert status["engine"] == "lexicon"
    reason = status["last_error"]
    assert reason and "\n" not in reason and "Traceback" not in reason and len(reason) <= 300
    assert status["parameters"] is None and status["load_time_s"] is None

    results = model.analyze(["BTC pumps to a new ATH, bullish!", "Exchange hacked, users rekt"])
    assert [(r["engine"], r["model"]) for r in results] == [("lexicon", "vader")] * 2
    assert [r["label"] for r in results] == ["bullish", "bearish"]
    assert model.status()["lexicon_inferences"] == 2
    assert model.status()["inferences"] == 0

    monkeypatch.setenv("SENTIMENT_MODEL", str(tiny_models["named"]))
    assert model.retry() is True
    assert settle(model) == "loaded"
    assert model.status()["last_error"] is None
    result = model.analyze(["btc moon"])[0]
    assert (result["engine"], result["model"]) == ("transformers", str(tiny_models["named"]))


def test_disabled_answers_with_the_lexicon(monkeypatch):
    monkeypatch.setenv("SENTIMENT_MODEL", "none")
    model = SentimentModel()
    assert model.start() is False
    status = model.status()
    assert (status["state"], status["engine"], status["model"]) == ("disabled", "lexicon", None)
    result = model.analyze(["Solana rallies to a record high"])[0]
    assert (result["engine"], result["model"], result["label"]) == ("lexicon", "vader", "bullish")


def test_missing_transformers_is_not_installed(monkeypatch, tiny_models):
    monkeypatch.setenv("SENTIMENT_MODEL", str(tiny_models["named"]))
    monkeypatch.setitem(sys.modules, "transformers", None)    # makes `import transformers` fail
    model = SentimentModel()
    model.start()
    assert settle(model) == "not_installed"
    assert "transformers" in model.status()["last_error"]
    assert model.analyze(["btc moon"])[0]["engine"] == "lexicon"


# ---------------------------------------------------------------------------- inference

def test_analyze_returns_mapped_labels_and_scores(named_model, tiny_models):
    results = named_model.analyze(["  bitcoin moon pump  ", "eth crash and dump"])
    assert [r["text"] for r in results] == ["bitcoin moon pump", "eth crash and dump"]
    for r in results:
        assert r["label"] in {"bullish", "neutral", "bearish"}
        assert 0.0 <= r["score"] <= 1.0
        assert r["engine"] == "transformers"
        assert r["model"] == str(tiny_models["named"])


def test_batch_of_ten_returns_ten_in_one_batch(named_model):
    texts = [sentence(3 + i) for i in range(10)]
    results = named_model.analyze(texts)
    assert [r["text"] for r in results] == texts
    assert named_model.status()["batches"] == 1


def test_long_text_is_truncated_to_the_model_positions(named_model, tiny_models):
    from transformers import AutoTokenizer

    text = sentence(600)[:2000].rstrip().ljust(2000, "x")
    assert len(text) == 2000
    untruncated = AutoTokenizer.from_pretrained(tiny_models["named"])(text)["input_ids"]
    assert len(untruncated) > POSITIONS       # would overflow the position table
    result = named_model.analyze([text])[0]
    assert result["engine"] == "transformers" and result["label"] in {"bullish", "neutral",
                                                                      "bearish"}
    assert named_model.status()["inference_errors"] == 0


def test_counters_add_up_exactly(named_model):
    sizes = [1, 10, 64, 3]
    for n in sizes:
        named_model.analyze([sentence(5)] * n)
    status = named_model.status()
    assert status["inferences"] == sum(sizes)
    assert status["batches"] == len(sizes)
    assert status["lexicon_inferences"] == 0
    assert 0 < status["avg_ms"] <= status["p95_ms"]


def test_concurrent_callers_run_one_batch_at_a_time(named_model):
    errors: list[BaseException] = []

    def call():
        try:
            for _ in range(5):
                named_model.analyze([sentence(8)] * 4)
        except BaseException as exc:   # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    status = named_model.status()
    assert (status["batches"], status["inferences"]) == (20, 80)


@pytest.mark.parametrize("texts, parameter", [
    ([""], "text"),
    (["   "], "text"),
    (["x" * 2001], "text"),
    (["fine", 7], "text #2"),
    ([None], "text"),
    (["a"] * 65, "texts"),
    ([], "texts"),
    ("a bare string", "texts"),
    (None, "texts"),
])
def test_bad_input_is_refused_before_the_model(named_model, texts, parameter):
    with pytest.raises(InvalidText) as err:
        named_model.analyze(texts)
    message = str(err.value)
    assert message.startswith(parameter)
    assert "2000" in message or "64" in message
    assert isinstance(err.value, ValueError)
    assert named_model.status()["inferences"] == 0


def test_bad_input_is_refused_by_the_lexicon_path_too(monkeypatch):
    monkeypatch.setenv("SENTIMENT_MODEL", "none")
    model = SentimentModel()
    model.start()
    with pytest.raises(InvalidText, match="texts"):
        model.analyze([])
    assert model.status()["lexicon_inferences"] == 0


def test_2000_characters_is_allowed(named_model):
    assert len(named_model.analyze(["y" * 2000])) == 1


# ---------------------------------------------------------------------------- labels, lexicon

@pytest.mark.parametrize("id2label, expected", [
    ({0: "Bearish", 1: "Neutral", 2: "Bullish"},
     {"Bearish": "bearish", "Neutral": "neutral", "Bullish": "bullish"}),
    ({"0": "negative", "1": "neutral", "2": "positive"},
     {"negative": "bearish", "neutral": "neutral", "positive": "bullish"}),
    ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"},
     {"LABEL_0": "bearish", "LABEL_1": "neutral", "LABEL_2": "bullish"}),
    ({0: "LABEL_0", 1: "LABEL_1"}, {"LABEL_0": "bearish", "LABEL_1": "bullish"}),
    ({0: "NEG", 1: "NEU", 2: "POS"}, {"NEG": "bearish", "NEU": "neutral", "POS": "bullish"}),
    ({0: "POSITIVE", 1: "NEGATIVE"}, {"POSITIVE": "bullish", "NEGATIVE": "bearish"}),
])
def test_map_labels(id2label, expected):
    assert map_labels(id2label) == expected


@pytest.mark.parametrize("id2label, needle", [
    ({0: "1 star", 1: "2 stars", 2: "3 stars"}, "1 star"),
    ({i: f"LABEL_{i}" for i in range(5)}, "5 generic labels"),
    ({0: "positive", 1: "neutral"}, "both bullish and bearish"),
    ({0: "negative", 1: "LABEL_1", 2: "positive"}, "LABEL_1"),
    ({0: "positive_or_negative", 1: "neutral"}, "more than one direction"),
    ({}, "no labels"),
])
def test_unmappable_labels_are_refused_with_a_reason(id2label, needle):
    with pytest.raises(UnmappableLabels, match=needle):
        map_labels(id2label)


@pytest.mark.parametrize("text, label", [
    ("BTC pumps to a new ATH, very bullish", "bullish"),
    ("Got rekt in the rug pull, everyone is dumping", "bearish"),
    ("Ether plunges after the exchange hack", "bearish"),
    ("Bitcoin is trading at 60000 dollars", "neutral"),
])
def test_lexicon_labels_with_crypto_booster(text, label):
    result = LexiconSentiment().analyze([text])[0]
    assert result["label"] == label
    assert 0.0 <= result["score"] <= 1.0
    assert (result["engine"], result["model"]) == ("lexicon", "vader")


def test_lexicon_booster_is_per_instance():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    LexiconSentiment()
    assert "rekt" not in SentimentIntensityAnalyzer().lexicon


def test_aggregate_shares():
    results = [{"label": "bullish"}, {"label": "bullish"}, {"label": "bearish"},
               {"label": "neutral"}]
    assert aggregate(results) == {"bullish": 0.5, "neutral": 0.25, "bearish": 0.25, "count": 4}
    assert aggregate([]) == {"bullish": 0.0, "neutral": 0.0, "bearish": 0.0, "count": 0}


def test_usable_length_counts_the_roberta_position_offset():
    """BERTweet/RoBERTa number positions from padding_idx + 1, so 66 positions hold 64 tokens."""
    from types import SimpleNamespace

    from transformers import RobertaConfig, RobertaForSequenceClassification

    from ai.sentiment import usable_length

    config = RobertaConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=64,
                           max_position_embeddings=66, pad_token_id=1, num_labels=3)
    model = RobertaForSequenceClassification(config)
    assert usable_length(SimpleNamespace(model_max_length=int(1e30)), model) == 64
    assert usable_length(SimpleNamespace(model_max_length=40), model) == 40
