"""Sentiment for crypto text: a transformers model on the CPU with a marked VADER fallback.

No Gradio here: the UI and the REST routes call `SentimentModel.analyze` / `.status`.
"""
from __future__ import annotations

from .labels import BEARISH, BULLISH, NEUTRAL, SENTIMENTS, UnmappableLabels, map_labels
from .lexicon import LexiconSentiment
from .sentiment import (DEFAULT_MODEL, MAX_CHARS, MAX_TEXTS, InvalidText, SentimentModel,
                        validate_texts)

__all__ = [
    "SentimentModel", "InvalidText", "aggregate", "validate_texts", "map_labels",
    "UnmappableLabels", "LexiconSentiment", "DEFAULT_MODEL", "MAX_TEXTS", "MAX_CHARS",
    "BULLISH", "NEUTRAL", "BEARISH", "SENTIMENTS",
]


def aggregate(results: list[dict]) -> dict:
    """Share of each label across results (0.0 each when there are none), plus the count."""
    count = len(results)
    tally = {label: 0 for label in (BULLISH, NEUTRAL, BEARISH)}
    for result in results:
        tally[result["label"]] += 1
    shares = {label: (n / count if count else 0.0) for label, n in tally.items()}
    return {**shares, "count": count}
