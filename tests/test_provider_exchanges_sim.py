"""The six exchange providers over real HTTP against the simulator (sim/ on loopback).

The `sim` fixture points every <NAME>_BASE_URL at the simulator, so providers built inside a test
talk to it through the plain (uncached, unbudgeted) HTTP object.
"""
from __future__ import annotations

import time

import pytest

from providers.base import Banned, MalformedResponse, RateLimited, UpstreamError
from providers.binance import Binance
from providers.bybit import Bybit
from providers.coinbase import Coinbase
from providers.kraken import Kraken
from providers.kucoin import KuCoin
from providers.okx import OKX
from tests.checks import assert_candle_series

ALL = [Binance, Coinbase, Kraken, OKX, KuCoin, Bybit]
BATCH = [cls for cls in ALL if "quotes" in cls.capabilities]


def assert_sane_quote(quote, cls, ticker):
    assert quote.symbol == ticker and quote.source == cls.name
    assert quote.price > 0 and quote.quote_currency == cls.quote_currency
    assert 1e9 < quote.timestamp <= time.time() + 60        # epoch seconds, not ms
    if quote.change_24h_pct is not None:
        assert -90 < quote.change_24h_pct < 1000                # percent, not a fraction of it


@pytest.mark.parametrize("cls", ALL)
def test_quote_btc_and_eth(sim, plain_http, cls):
    p = cls(plain_http)
    assert p.base_url != cls.default_base_url
    btc, eth = p.fetch_quote("BTC"), p.fetch_quote("ETH")
    assert_sane_quote(btc, cls, "BTC")
    assert_sane_quote(eth, cls, "ETH")
    assert btc.price > eth.price
    assert all(url.startswith(p.base_url) for url, _ in plain_http.calls)


@pytest.mark.parametrize("cls", BATCH)
def test_batch_quotes_in_one_call(sim, plain_http, cls):
    quotes = cls(plain_http).fetch_quotes(["BTC", "ETH", "SOL", "NOPE"])
    assert set(quotes) == {"BTC", "ETH", "SOL"}
    for ticker, quote in quotes.items():
        assert_sane_quote(quote, cls, ticker)
    assert len(plain_http.calls) == 1


@pytest.mark.parametrize("cls", ALL)
def test_hourly_candles_limit_50_ascending(sim, plain_http, cls):
    candles = cls(plain_http).fetch_candles("BTC", "1h", 50)
    assert_candle_series(candles, 50, 3600)



# ----------------------------------------------------------------------------- simulated faults

@pytest.mark.parametrize("cls", ALL)
def test_rate_limit_fault_is_rate_limited(sim, plain_http, cls):
    sim.set_fault(cls.name, "rate_limit", retry_after=5)
    with pytest.raises(RateLimited) as err:
        cls(plain_http).fetch_quote("BTC")
    expected = {"binance": 5, "kucoin": 5, "bybit": Bybit.rate_limit.ban_s}
    if cls.name in expected:
        assert err.value.retry_after == pytest.approx(expected[cls.name])
    assert isinstance(err.value, Banned) == (cls is Bybit)     # Bybit's limit answer is a ban


@pytest.mark.parametrize("cls", [Binance, Bybit])
def test_ban_fault_is_banned(sim, plain_http, cls):
    sim.set_fault(cls.name, "ban", retry_after=120)
    with pytest.raises(Banned) as err:
        cls(plain_http).fetch_quote("BTC")
    assert err.value.retry_after > 0


def test_kraken_ban_fault_is_throttled_until_a_timestamp(sim, plain_http):
    sim.set_fault("kraken", "ban", retry_after=120)
    with pytest.raises(RateLimited) as err:
        Kraken(plain_http).fetch_quote("BTC")
    assert 60 < err.value.retry_after <= 121


@pytest.mark.parametrize("fault, exc", [("html", MalformedResponse),
                                        ("malformed", MalformedResponse),
                                        ("error500", UpstreamError)])
@pytest.mark.parametrize("cls", ALL)
def test_body_faults_become_typed_errors(sim, plain_http, cls, fault, exc):
    sim.set_fault(cls.name, fault)
    p = cls(plain_http)
    with pytest.raises(exc):
        p.fetch_quote("BTC")
    if "quotes" in cls.capabilities:
        with pytest.raises(exc):
            p.fetch_quotes(["BTC", "ETH"])
    with pytest.raises(exc):
        p.fetch_candles("BTC", "1h", 10)
