"""Provider error signals become the right typed error, with the real providers' error bodies;
and no parser raises anything but our typed errors, whatever JSON it is handed (Hypothesis)."""
from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers import (alternative_me, binance, bybit, coinbase, coincap, coingecko,
                       coinpaprika, cryptocompare, kraken, kucoin, okx)
from providers.base import (MalformedResponse, ProviderError, Quote, RateLimited, UnknownSymbol,
                            UpstreamError)

# -- the real bodies ----------------------------------------------------------------------------

KUCOIN_UNKNOWN_PAIR = {"code": "400100", "msg": "This pair is not provided at present"}
KUCOIN_BAD_TYPE = {"code": "400100", "msg": "This type is not supported. Please check the type "
                                            "param."}
CRYPTOCOMPARE_NO_TOSYMBOLS = {
    "Response": "Error", "Message": "There is no data for any of the toSymbols USD .",
    "HasWarning": True, "Type": 2, "RateLimit": {}, "Data": {},
    "Warning": "There is no data for the toSymbol/s USD ", "ParamWithError": "tsyms"}
CRYPTOCOMPARE_RATE_LIMIT = {
    "Response": "Error", "Message": "You are over your rate limit please upgrade your account!",
    "HasWarning": False, "Type": 99,
    "RateLimit": {"calls_made": {"second": 53, "minute": 915, "hour": 63283, "day": 127321,
                                 "month": 6720577, "total_calls": 29374377},
                  "max_calls": {"second": 50, "minute": 2000, "hour": 100000, "day": 1500000,
                                "month": 15000000}},
    "Data": {}, "Cooldown": 7}
KRAKEN_TICKER_ENTRY = {"a": ["84036.10000", "2", "2.000"], "b": ["84036.00000", "1", "1.000"],
                       "c": ["84036.00000", "0.00112355"], "v": ["702.24523395", "3307.38151293"],
                       "p": ["84259.58809", "84073.56822"], "t": [33153, 135029],
                       "l": ["83740.10000", "82832.30000"], "h": ["84861.80000", "84914.80000"],
                       "o": "84380.00000"}


def test_kucoin_unknown_pair_is_an_unknown_symbol():
    with pytest.raises(UnknownSymbol, match="not provided"):
        kucoin.check_envelope(KUCOIN_UNKNOWN_PAIR)
    with pytest.raises(UnknownSymbol):
        kucoin.parse_stats(KUCOIN_UNKNOWN_PAIR, "NOPE")


def test_kucoin_other_parameter_errors_stay_upstream_errors():
    with pytest.raises(UpstreamError) as err:
        kucoin.check_envelope(KUCOIN_BAD_TYPE)
    assert not isinstance(err.value, UnknownSymbol)


def test_cryptocompare_no_data_for_tosymbols_is_an_unknown_symbol():
    with pytest.raises(UnknownSymbol, match="toSymbols"):
        cryptocompare.check_error(CRYPTOCOMPARE_NO_TOSYMBOLS)


def test_cryptocompare_cooldown_is_the_retry_after():
    with pytest.raises(RateLimited) as err:
        cryptocompare.check_error(CRYPTOCOMPARE_RATE_LIMIT)
    assert err.value.retry_after == 7


def test_cryptocompare_without_cooldown_waits_out_the_used_up_window():
    body = {k: v for k, v in CRYPTOCOMPARE_RATE_LIMIT.items() if k != "Cooldown"}
    with pytest.raises(RateLimited) as err:
        cryptocompare.check_error(body)
    assert err.value.retry_after == 1      # only the per-second quota is used up


def test_kraken_single_quote_reads_its_own_pair():
    now = time.time()
    q = kraken.parse_ticker({"error": [], "result": {"XXBTZUSD": KRAKEN_TICKER_ENTRY}}, "BTC", now)
    assert isinstance(q, Quote) and q.price == 84036.0 and q.quote_currency == "USD"


@pytest.mark.parametrize("key", ["XBTUSDT", "XXBTZEUR", "XETHZUSD", "USDTZUSD"])
def test_kraken_single_quote_rejects_another_pairs_answer(key):
    with pytest.raises(MalformedResponse):
        kraken.parse_ticker({"error": [], "result": {key: KRAKEN_TICKER_ENTRY}}, "BTC")


# -- properties: arbitrary JSON never escapes as anything but a typed error ---------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)
# Bodies that look like each provider's envelopes, so parsing gets past the first check.
SHAPED = st.one_of(
    JSON,
    st.fixed_dictionaries({"code": st.sampled_from(["200000", "400100", "429000", 0, "0"]),
                           "data": JSON, "msg": JSON}),
    st.fixed_dictionaries({"retCode": st.sampled_from([0, 10006, 10001]), "result": JSON}),
    st.fixed_dictionaries({"error": st.lists(st.text(max_size=20), max_size=2),
                           "result": st.dictionaries(st.sampled_from(
                               ["XXBTZUSD", "XBTUSD", "XBTUSDT", "last", "ETHUSD"]), JSON,
                               max_size=3)}),
    st.fixed_dictionaries({"Response": st.sampled_from(["Error", "Success"]), "Message": JSON,
                           "Type": JSON, "RateLimit": JSON, "Cooldown": JSON, "RAW": JSON,
                           "Data": JSON}),
    st.fixed_dictionaries({"data": JSON, "metadata": JSON}),
    st.lists(st.lists(JSON, max_size=8), max_size=3),
)

PARSERS = {
    "alternative_me.parse_fear_greed": lambda b: alternative_me.parse_fear_greed(b),
    "binance.parse_ticker": lambda b: binance.parse_ticker(b, "BTC"),
    "binance.parse_tickers": lambda b: binance.parse_tickers(b, {"BTCUSDT": "BTC"}),
    "binance.parse_klines": binance.parse_klines,
    "bybit.check_envelope": bybit.check_envelope,
    "bybit.parse_ticker": lambda b: bybit.parse_ticker(b, "BTC"),
    "bybit.parse_tickers": lambda b: bybit.parse_tickers(b, {"BTCUSDT": "BTC"}),
    "bybit.parse_kline": bybit.parse_kline,
    "coinbase.parse_stats": lambda b: coinbase.parse_stats(b, "BTC", 1.0),
    "coinbase.parse_candles": coinbase.parse_candles,
    "coincap.check_error": coincap.check_error,
    "coincap.parse_asset_body": lambda b: coincap.parse_asset_body(b, "BTC"),
    "coincap.parse_assets": lambda b: coincap.parse_assets(b, {"BTC": "bitcoin"}),
    "coincap.parse_top": lambda b: coincap.parse_top(b, 10),
    "coingecko.parse_simple_price": lambda b: coingecko.parse_simple_price(b, {"BTC": "bitcoin"}),
    "coingecko.parse_markets": coingecko.parse_markets,
    "coingecko.parse_ohlc": lambda b: coingecko.parse_ohlc(b, "1h"),
    "coinpaprika.parse_tickers": lambda b: coinpaprika.parse_tickers(b, {"BTC": "btc-bitcoin"}),
    "coinpaprika.parse_top": lambda b: coinpaprika.parse_top(b, 10),
    "cryptocompare.check_error": cryptocompare.check_error,
    "cryptocompare.parse_pricemultifull": lambda b: cryptocompare.parse_pricemultifull(b, ["BTC"]),
    "cryptocompare.parse_histo": cryptocompare.parse_histo,
    "cryptocompare.parse_top": cryptocompare.parse_top,
    "cryptocompare.parse_news": lambda b: cryptocompare.parse_news(b, 10),
    "kraken.check_errors": kraken.check_errors,
    "kraken.parse_ticker": lambda b: kraken.parse_ticker(b, "BTC", 1.0),
    "kraken.parse_tickers": lambda b: kraken.parse_tickers(b, {"BTC", "ETH"}, 1.0),
    "kraken.parse_ohlc": kraken.parse_ohlc,
    "kucoin.check_envelope": kucoin.check_envelope,
    "kucoin.parse_stats": lambda b: kucoin.parse_stats(b, "BTC"),
    "kucoin.parse_all_tickers": lambda b: kucoin.parse_all_tickers(b, {"BTC-USDT": "BTC"}),
    "kucoin.parse_candles": kucoin.parse_candles,
    "okx.check_envelope": okx.check_envelope,
    "okx.parse_ticker": lambda b: okx.parse_ticker(b, "BTC"),
    "okx.parse_tickers": lambda b: okx.parse_tickers(b, {"BTC-USDT": "BTC"}),
    "okx.parse_candles": okx.parse_candles,
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parsers_raise_only_typed_errors_on_any_json(name):
    parse = PARSERS[name]

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(SHAPED)
    def check(body):
        try:
            parse(body)
        except ProviderError:
            pass

    check()
