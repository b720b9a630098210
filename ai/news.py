"""News sentiment: recent headlines from every news provider (through the router, so feeds get
budgets, cooldowns, caching and metrics like any provider), each classified, plus the aggregate
next to the Fear & Greed index."""
from __future__ import annotations

from typing import Any

from routing import NoProviderAvailable, Router

from . import aggregate
from .sentiment import SentimentModel


def news_sentiment(router: Router, model: SentimentModel, symbol: str | None = None,
                   limit: int = 20) -> dict[str, Any]:
    """Headlines for a coin (or the market when symbol is empty), newest first, each with its
    sentiment; the share bullish / neutral / bearish; and the Fear & Greed index when it answers."""
    answers = router.get_news(symbol or None, limit)
    seen: set[str] = set()
    items = []
    for a in answers:
        for n in a.value:
            key = n.title.strip().lower()
            if key and key not in seen:
                seen.add(key)
                items.append((n, a))
    items.sort(key=lambda pair: -pair[0].published)
    items = items[:limit]
    results = model.analyze([n.title for n, _ in items]) if items else []
    headlines = [{
        "title": n.title, "url": n.url, "source": n.source, "publisher": n.publisher,
        "published": n.published, "label": r["label"], "score": r["score"], "engine": r["engine"],
    } for (n, _), r in zip(items, results)]
    try:
        fg = router.get_fear_greed().value
        fear_greed = {"value": fg.value, "classification": fg.classification}
    except NoProviderAvailable as exc:
        fear_greed = {"error": str(exc)}
    return {
        "symbol": symbol.strip().upper() if symbol else "MARKET",
        "headlines": headlines,
        "aggregate": aggregate(results),
        "sources": sorted({a.source for a in answers}),
        "engine": results[0]["engine"] if results else model.status()["engine"],
        "fear_greed": fear_greed,
        "stale": any(a.stale for a in answers),
    }
