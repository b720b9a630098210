"""Map a classifier's own labels (its `config.id2label`) to bullish / neutral / bearish.

Models name their classes differently (Bullish, POSITIVE, pos, LABEL_2). The mapping is decided
once, at load time, from the model's config, so a model whose labels mean something else (stars,
emotions) fails to load with a clear reason instead of giving confident nonsense.
"""
from __future__ import annotations

import re
from typing import Mapping

BULLISH = "bullish"
NEUTRAL = "neutral"
BEARISH = "bearish"
SENTIMENTS = (BULLISH, NEUTRAL, BEARISH)

# Words inside a label name that say which way it points.
KEYWORDS: dict[str, str] = {
    "positive": BULLISH, "bullish": BULLISH, "pos": BULLISH, "bull": BULLISH,
    "negative": BEARISH, "bearish": BEARISH, "neg": BEARISH, "bear": BEARISH,
    "neutral": NEUTRAL, "neu": NEUTRAL,
}

# Generic labels carry no meaning of their own; they are mapped by position, by convention
# (cardiffnlp's 3-class models and SST-2 style 2-class models order them negative -> positive).
GENERIC = re.compile(r"^LABEL_(\d+)$", re.IGNORECASE)
BY_POSITION: dict[int, tuple[str, ...]] = {
    3: (BEARISH, NEUTRAL, BULLISH),
    2: (BEARISH, BULLISH),
}


class UnmappableLabels(ValueError):
    """The model's labels cannot be read as bullish / neutral / bearish."""


def normalize_id2label(id2label: Mapping[int | str, str]) -> dict[int, str]:
    """Config files store ids as strings; the model returns integer indices."""
    try:
        return {int(k): str(v) for k, v in id2label.items()}
    except (TypeError, ValueError):
        raise UnmappableLabels(f"id2label has non-integer ids: {dict(id2label)!r}") from None


def map_labels(id2label: Mapping[int | str, str]) -> dict[str, str]:
    """Model label name -> bullish / neutral / bearish, or UnmappableLabels saying why not."""
    labels = normalize_id2label(id2label)
    if not labels:
        raise UnmappableLabels("the model declares no labels (config.id2label is empty)")
    names = [labels[i] for i in sorted(labels)]

    if all(GENERIC.match(name) for name in names):
        order = BY_POSITION.get(len(names))
        if order is None:
            raise UnmappableLabels(
                f"{len(names)} generic labels ({', '.join(names)}); only 2 (negative, positive) "
                "or 3 (negative, neutral, positive) generic labels can be mapped by position")
        by_index = {int(GENERIC.match(name).group(1)): name for name in names}
        if sorted(by_index) != list(range(len(names))):
            raise UnmappableLabels(f"generic labels are not LABEL_0..LABEL_{len(names) - 1}: "
                                   f"{', '.join(names)}")
        return {by_index[i]: order[i] for i in range(len(names))}

    mapping: dict[str, str] = {}
    for name in names:
        words = set(re.split(r"[^a-z]+", name.lower())) & KEYWORDS.keys()
        meanings = {KEYWORDS[w] for w in words}
        if len(meanings) != 1:
            why = "names more than one direction" if meanings else "is not a sentiment word"
            raise UnmappableLabels(
                f"label {name!r} {why}; expected labels like Bullish/Neutral/Bearish, "
                f"POSITIVE/NEGATIVE or LABEL_0..LABEL_2 (model labels: {', '.join(names)})")
        mapping[name] = meanings.pop()
    if BULLISH not in mapping.values() or BEARISH not in mapping.values():
        raise UnmappableLabels(f"labels {', '.join(names)} cannot say both bullish and bearish")
    return mapping
