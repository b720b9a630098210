"""News sentiment through the router over real HTTP against the simulated feeds."""
from __future__ import annotations

import os

import pytest

from ai import SentimentModel
from ai.news import news_sentiment
from routing import NoProviderAvailable, build_router


@pytest.fixture
def router(sim, tmp_path):
    r = build_router(tmp_path / "data", env={**os.environ, **sim.env()})
    yield r
    r.close()


def test_headlines_from_at_least_two_sources_with_sentiment_and_aggregate(router, sim):
    out = news_sentiment(router, SentimentModel("none"), "BTC", 12)
    assert len(out["sources"]) >= 2
    assert {"coindesk", "cointelegraph", "cryptocompare"} >= set(out["sources"])
    heads = out["headlines"]
    assert 1 <= len(heads) <= 12
    assert [h["published"] for h in heads] == sorted((h["published"] for h in heads), reverse=True)
    assert all(h["label"] in ("bullish", "neutral", "bearish") and 0 <= h["score"] <= 1
               for h in heads)
    assert all(h["engine"] == "lexicon" for h in heads) and out["engine"] == "lexicon"
    agg = out["aggregate"]
    assert agg["count"] == len(heads)
    assert abs(agg["bullish"] + agg["neutral"] + agg["bearish"] - 1.0) < 1e-9
    assert 0 <= out["fear_greed"]["value"] <= 100


def test_market_news_and_feeds_are_cached_like_any_provider(router, sim):
    news_sentiment(router, SentimentModel("none"), "", 10)
    calls = sum(s["requests"] for s in sim.stats().values())
    again = news_sentiment(router, SentimentModel("none"), None, 10)
    assert again["symbol"] == "MARKET"
    assert sum(s["requests"] for s in sim.stats().values()) == calls
    feeds = {p["name"]: p for p in router.provider_status()}
    assert feeds["coindesk"]["upstream_calls"] >= 1 and feeds["cointelegraph"]["upstream_calls"] >= 1


def test_one_feed_down_still_answers_and_all_down_is_a_clear_error(router, sim):
    sim.set_fault("coindesk", "html")
    out = news_sentiment(router, SentimentModel("none"), "ETH", 5)
    assert "coindesk" not in out["sources"] and out["headlines"]
    for feed in ("cointelegraph", "cryptocompare"):
        sim.set_fault(feed, "error500")
    with pytest.raises(NoProviderAvailable):
        news_sentiment(router, SentimentModel("none"), "SOL", 5)


def test_feed_rate_limit_cools_it_down(router, sim):
    sim.set_fault("cointelegraph", "rate_limit", retry_after=30)
    out = news_sentiment(router, SentimentModel("none"), "BTC", 5)
    assert "cointelegraph" not in out["sources"]
    state = {p["name"]: p["state"] for p in router.provider_status()}
    assert state["cointelegraph"] == "rate_limited"
