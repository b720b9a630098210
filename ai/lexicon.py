"""The fallback engine: VADER's rule-based sentiment, which needs no download and no torch.

It answers whenever the transformer model is not loaded, and every answer says so
(`engine: "lexicon"`, `model: "vader"`).
"""
from __future__ import annotations

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from .labels import BEARISH, BULLISH, NEUTRAL

# VADER's own cut-offs for "positive" / "negative" on the compound score.
POLAR_THRESHOLD = 0.05

# Crypto and market-headline words VADER's social-media lexicon lacks or underweights, on
# VADER's -4..+4 valence scale. Without them "BTC pumps to a new ATH" and "rekt after the rug
# pull" read as neutral.
CRYPTO_BOOST: dict[str, float] = {
    "bullish": 2.5, "bearish": -2.5,
    "moon": 2.0, "mooning": 2.5, "ath": 2.0, "hodl": 1.0,
    "pump": 1.5, "pumps": 1.5, "pumping": 1.5, "pumped": 1.5,
    "dump": -2.0, "dumps": -2.0, "dumping": -2.0, "dumped": -2.0,
    "rekt": -2.5, "rug": -2.5, "rugged": -2.5, "rugpull": -3.0,
    "rally": 1.8, "rallies": 1.8, "rallied": 1.8,
    "surge": 1.8, "surges": 1.8, "surged": 1.8,
    "soar": 2.0, "soars": 2.0, "soared": 2.0,
    "plunge": -2.0, "plunges": -2.0, "plunged": -2.0,
    "tumble": -1.8, "tumbles": -1.8, "tumbled": -1.8,
    "slump": -1.8, "slumps": -1.8, "slumped": -1.8,
    "crashes": -1.7, "crashed": -1.7,
    "hack": -2.0, "exploit": -2.0, "exploited": -2.0,
    "liquidated": -1.8, "liquidations": -1.5, "selloff": -1.8,
}


class LexiconSentiment:
    """VADER with a small crypto booster added to this instance's lexicon at construction.

    The booster (`CRYPTO_BOOST`) overrides VADER's value for the few words it already has
    (e.g. "dump", "exploit"), because their crypto meaning is the strong one.
    """

    engine = "lexicon"
    model = "vader"

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()
        self._vader.lexicon.update(CRYPTO_BOOST)

    def classify(self, text: str) -> tuple[str, float]:
        """(label, confidence in [0, 1]) from VADER's compound score."""
        compound = float(self._vader.polarity_scores(text)["compound"])
        if compound >= POLAR_THRESHOLD:
            return BULLISH, min(1.0, compound)
        if compound <= -POLAR_THRESHOLD:
            return BEARISH, min(1.0, -compound)
        return NEUTRAL, max(0.0, 1.0 - abs(compound))

    def analyze(self, texts: list[str]) -> list[dict]:
        out = []
        for text in texts:
            label, score = self.classify(text)
            out.append({"text": text, "label": label, "score": round(score, 4),
                        "engine": self.engine, "model": self.model})
        return out
