"""CoinGecko, CoinPaprika, CryptoCompare and alternative.me over real HTTP against the simulator.

The `sim` fixture points every <NAME>_BASE_URL at sim/ on loopback; providers built inside a test
talk to it through the plain (uncached, unbudgeted) HTTP object.
"""
from __future__ import annotations

import time

from providers.alternative_me import AlternativeMe
from providers.coingecko import CoinGecko
from providers.coinpaprika import CoinPaprika
from providers.cryptocompare import CryptoCompare
from tests.checks import assert_candle_series


def test_coingecko_quote(sim, plain_http):
    cg = CoinGecko(plain_http)
    assert cg.base_url != CoinGecko.default_base_url
    quote = cg.fetch_quote("BTC")
    assert (quote.symbol, quote.source, quote.quote_currency) == ("BTC", "coingecko", "USD")
    assert quote.price > 0 and 1e9 < quote.timestamp <= time.time() + 60
    assert quote.market_cap is None or quote.market_cap > quote.price
    (url, params), = plain_http.calls
    assert url == cg.base_url + "/api/v3/simple/price" and params["ids"] == "bitcoin"


def test_coinpaprika_top_10_sorted_by_rank(sim, plain_http):
    top = CoinPaprika(plain_http).fetch_top(10)
    assert len(top) == 10
    ranks = [c.rank for c in top]
    assert ranks == sorted(ranks) and ranks[0] == 1 and len(set(ranks)) == 10
    assert top[0].symbol == "BTC"
    assert all(c.price > 0 and c.market_cap > 0 and c.source == "coinpaprika" for c in top)


def test_cryptocompare_hourly_candles_ascending(sim, plain_http):
    candles = CryptoCompare(plain_http).fetch_candles("BTC", "1h", 24)
    assert_candle_series(candles, 24, 3600)                    # limit+1 trimmed


def test_alternative_me_fear_greed(sim, plain_http):
    fg = AlternativeMe(plain_http).fetch_fear_greed()
    assert 0 <= fg.value <= 100 and fg.classification
    assert fg.timestamp % 86400 == 0 and fg.timestamp <= time.time()   # 00:00 UTC of its day
    assert fg.time_until_update_s is None or fg.time_until_update_s >= 0


def test_cryptocompare_news(sim, plain_http):
    news = CryptoCompare(plain_http).fetch_news("BTC", 5)
    assert 0 < len(news) <= 5
    for item in news:
        assert item.title and item.url.startswith("http") and item.source == "cryptocompare"
        assert 1e9 < item.published <= time.time() + 60
        assert len(item.summary) <= 301
