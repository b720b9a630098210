"""The sentiment model: a transformers text classifier on the CPU, loaded in the background.

The app is usable at once: until the model is loaded (or when it cannot be), answers come from the
VADER lexicon and say so in every result (`engine: "lexicon"`). Every number in `status()` is
measured from this process, never a constant.
"""
from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from .labels import map_labels
from .lexicon import LexiconSentiment

DEFAULT_MODEL = "ElKulako/cryptobert"
MODEL_ENV = "SENTIMENT_MODEL"
DISABLED_VALUE = "none"

MAX_TEXTS = 64          # texts per call, and so per model batch
MAX_CHARS = 2000        # characters per text after trimming spaces
MAX_THREADS = 2         # torch intra-op threads: a Space's CPU is shared with the web server
DURATION_WINDOW = 512   # recent batch durations kept for avg / p95

# States, as `status()["state"]` reports them.
NOT_STARTED = "not_started"      # start() not called yet
NOT_INSTALLED = "not_installed"  # torch or transformers cannot be imported
LOADING = "loading"
LOADED = "loaded"
FAILED = "failed"                # see last_error; retry() tries again
DISABLED = "disabled"            # SENTIMENT_MODEL=none


class InvalidText(ValueError):
    """Caller input the model must not see; the message names the parameter and what is allowed."""


def validate_texts(texts: Any) -> list[str]:
    """The texts trimmed of surrounding spaces, or InvalidText saying what is wrong."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, (list, tuple)):
        raise InvalidText(f"texts must be a list of 1 to {MAX_TEXTS} strings, "
                          f"got {type(texts).__name__}")
    if not 1 <= len(texts) <= MAX_TEXTS:
        raise InvalidText(f"texts must hold 1 to {MAX_TEXTS} strings, got {len(texts)}")
    cleaned = []
    for i, text in enumerate(texts, start=1):
        where = "text" if len(texts) == 1 else f"text #{i}"
        if not isinstance(text, str):
            raise InvalidText(f"{where} must be a string of 1 to {MAX_CHARS} characters, "
                              f"got {type(text).__name__}")
        text = text.strip()
        if not text:
            raise InvalidText(f"{where} is empty; text must be 1 to {MAX_CHARS} characters")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidText(f"{where} is not valid Unicode: character {exc.start + 1} is a "
                              f"lone surrogate (U+{ord(text[exc.start]):04X}); send UTF-8 "
                              "text") from None
        if len(text) > MAX_CHARS:
            raise InvalidText(f"{where} has {len(text)} characters; text must be 1 to "
                              f"{MAX_CHARS} characters (after trimming spaces)")
        cleaned.append(text)
    return cleaned


def short_reason(exc: BaseException) -> str:
    """One readable line for the status panel: the error type and its first line, no traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else "no message"
    if len(first) > 240:
        first = first[:237] + "..."
    return f"{type(exc).__name__}: {first}"


def installed_version(package: str) -> str | None:
    """The installed version without importing the package (importing torch takes seconds)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def usable_length(tokenizer: Any, model: Any) -> int:
    """Tokens per text the model can really take, special tokens included.

    The tokenizer's limit is often unset (a huge sentinel) or larger than the position table.
    RoBERTa-style models (BERTweet, hence CryptoBERT) number positions from padding_idx + 1, so
    they lose that many entries of max_position_embeddings.
    """
    limit = getattr(tokenizer, "model_max_length", None)
    limit = limit if isinstance(limit, int) and 0 < limit < 1_000_000 else None
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        embeddings = getattr(getattr(model, "base_model", None), "embeddings", None)
        padding_idx = getattr(embeddings, "padding_idx", None)
        offset = padding_idx + 1 if isinstance(padding_idx, int) else 0
        cap = positions - offset
        limit = cap if limit is None else min(limit, cap)
    return limit or 512


@dataclass(frozen=True)
class LoadedClassifier:
    """Everything inference needs, swapped in whole once a load has succeeded."""
    pipeline: Any
    labels: dict[str, str]        # model label -> bullish / neutral / bearish
    max_length: int
    parameters: int
    memory_bytes: int
    load_time_s: float


class SentimentModel:
    """A crypto sentiment classifier with an honest status and a marked lexicon fallback."""

    def __init__(self, model_id: str | None = None, *, threads: int = MAX_THREADS):
        self._fixed_model_id = model_id
        self._threads = max(1, min(threads, MAX_THREADS, os.cpu_count() or 1))
        self._lexicon = LexiconSentiment()
        self._state_lock = threading.Lock()
        self._inference_lock = threading.Lock()     # one batch at a time through the model
        self._state = NOT_STARTED
        self._model_id: str | None = None
        self._loaded: LoadedClassifier | None = None
        self._last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._torch: Any = None     # set once the import has finished (never a half-imported module)
        self._inferences = 0
        self._batches = 0
        self._inference_errors = 0
        self._lexicon_inferences = 0
        self._durations_ms: deque[float] = deque(maxlen=DURATION_WINDOW)

    # -- lifecycle ---------------------------------------------------------------------------
    def configured_model_id(self) -> str | None:
        """The id to load: the constructor's, else SENTIMENT_MODEL, else the default; None = off."""
        value = self._fixed_model_id
        if value is None:
            value = os.environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL
        return None if value.lower() == DISABLED_VALUE else value

    def start(self) -> bool:
        """Begin loading in a background thread; True when a load was started."""
        return self._begin({NOT_STARTED})

    def retry(self) -> bool:
        """Load again after a failure (re-reading SENTIMENT_MODEL); True when a load was started."""
        return self._begin({FAILED, NOT_INSTALLED, DISABLED})

    def wait(self, timeout: float | None = None) -> str:
        """Block until the current load ends (or the timeout passes) and return the state."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.state

    @property
    def state(self) -> str:
        return self._state

    @property
    def engine(self) -> str:
        return "transformers" if self._state == LOADED else "lexicon"

    def _begin(self, allowed: set[str]) -> bool:
        with self._state_lock:
            if self._state not in allowed:
                return False
            model_id = self.configured_model_id()
            self._model_id = model_id
            if model_id is None:
                self._state = DISABLED
                self._last_error = None
                return False
            self._state = LOADING
            self._last_error = None
            thread = threading.Thread(target=self._load, args=(model_id,),
                                      name="sentiment-model-load", daemon=True)
            self._thread = thread
        thread.start()
        return True

    def _load(self, model_id: str) -> None:
        try:
            import torch
            import transformers
        except BaseException as exc:
            self._settle(NOT_INSTALLED, error=f"torch/transformers not importable: "
                                              f"{short_reason(exc)}")
            return
        self._torch = torch
        started = time.perf_counter()
        try:
            torch.set_num_threads(self._threads)
            tokenizer = transformers.AutoTokenizer.from_pretrained(model_id)
            model = transformers.AutoModelForSequenceClassification.from_pretrained(model_id)
            model.eval()
            labels = map_labels(model.config.id2label)
            max_length = usable_length(tokenizer, model)
            classifier = transformers.pipeline("text-classification", model=model,
                                               tokenizer=tokenizer, device=-1)
            tensors = [*model.parameters(), *model.buffers()]
            loaded = LoadedClassifier(
                pipeline=classifier,
                labels=labels,
                max_length=max_length,
                parameters=sum(p.numel() for p in model.parameters()),
                memory_bytes=sum(t.numel() * t.element_size() for t in tensors),
                load_time_s=time.perf_counter() - started,
            )
        except BaseException as exc:    # whatever happens, the state must leave `loading`
            self._settle(FAILED, error=short_reason(exc))
            return
        self._settle(LOADED, loaded=loaded)

    def _settle(self, state: str, *, error: str | None = None,
                loaded: LoadedClassifier | None = None) -> None:
        with self._state_lock:
            self._state = state
            self._last_error = error
            self._loaded = loaded

    # -- inference ---------------------------------------------------------------------------
    def analyze(self, texts: list[str]) -> list[dict]:
        """One result per text: {text, label, score, engine, model}. Raises InvalidText."""
        cleaned = validate_texts(texts)
        with self._state_lock:
            loaded = self._loaded if self._state == LOADED else None
            model_id = self._model_id
        if loaded is not None:
            try:
                return self._classify(loaded, model_id or "", cleaned)
            except Exception as exc:
                with self._state_lock:
                    self._inference_errors += 1
                    self._last_error = f"inference failed, lexicon answered: {short_reason(exc)}"
        results = self._lexicon.analyze(cleaned)
        with self._state_lock:
            self._lexicon_inferences += len(cleaned)
        return results

    def _classify(self, loaded: LoadedClassifier, model_id: str, texts: list[str]) -> list[dict]:
        with self._inference_lock:
            started = time.perf_counter()
            raw = loaded.pipeline(texts, batch_size=len(texts), top_k=None,
                                  truncation=True, max_length=loaded.max_length)
            elapsed_ms = (time.perf_counter() - started) * 1000.0
        with self._state_lock:
            self._inferences += len(texts)
            self._batches += 1
            self._durations_ms.append(elapsed_ms)
        results = []
        for text, scores in zip(texts, raw):
            # Several model labels may share a direction (e.g. "weak"/"strong" positive): add them.
            by_sentiment: dict[str, float] = {}
            for item in scores:
                sentiment = loaded.labels[item["label"]]
                by_sentiment[sentiment] = by_sentiment.get(sentiment, 0.0) + float(item["score"])
            label = max(by_sentiment, key=by_sentiment.__getitem__)
            score = min(1.0, max(0.0, by_sentiment[label]))
            results.append({"text": text, "label": label, "score": round(score, 4),
                            "engine": "transformers", "model": model_id})
        return results

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict:
        """What the model panel shows; each number is measured in this process."""
        with self._state_lock:
            state = self._state
            loaded = self._loaded if state == LOADED else None
            durations = sorted(self._durations_ms)
            snapshot = {
                "state": state,
                "model": self._model_id if self._model_id else self.configured_model_id(),
                "engine": "transformers" if loaded else "lexicon",
                "inferences": self._inferences,
                "batches": self._batches,
                "inference_errors": self._inference_errors,
                "lexicon_inferences": self._lexicon_inferences,
                "last_error": self._last_error,
            }
        torch = self._torch
        snapshot.update({
            "transformers_version": installed_version("transformers"),
            "torch_version": installed_version("torch"),
            "device": "CPU",
            "threads": torch.get_num_threads() if torch is not None else None,
            "load_time_s": round(loaded.load_time_s, 3) if loaded else None,
            "parameters": loaded.parameters if loaded else None,
            "memory_mb": round(loaded.memory_bytes / 2**20, 2) if loaded else None,
            "avg_ms": round(sum(durations) / len(durations), 2) if durations else None,
            "p95_ms": round(durations[math.ceil(0.95 * len(durations)) - 1], 2)
            if durations else None,
            "labels": dict(loaded.labels) if loaded else None,
            "max_length": loaded.max_length if loaded else None,
        })
        return snapshot
