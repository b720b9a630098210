"""Parser and status tests for the six exchange providers, on bodies shaped as the reference shows.

No server: a fake HTTP object hands back canned responses, so every error path is reachable.
Integration over real HTTP against the simulator lives in test_provider_exchanges_sim.py.
"""
from __future__ import annotations

import time

import pytest

from providers import binance, bybit, coinbase, kraken, kucoin, okx
from providers.base import (Banned, MalformedResponse, RateLimited, UnknownSymbol, Unsupported,
                            UpstreamError)
from providers.binance import Binance
from providers.bybit import Bybit
from providers.coinbase import Coinbase
from providers.kraken import Kraken
from providers.kucoin import KuCoin
from providers.okx import OKX
from tests.fake_upstream import FakeHTTP, reply


def provider(cls, status_code=200, body=None, headers=None):
    """The provider over a fake HTTP object that answers every GET with one canned response."""
    resp = (reply(text=body, status=status_code, headers=headers) if isinstance(body, str)
            else reply(body, status_code, headers))
    return cls(FakeHTTP(resp), base_url="http://fake")


HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"

# ----------------------------------------------------------------------------- reference bodies

BINANCE_24HR = {"symbol": "BTCUSDT", "priceChange": "-94.99999800", "priceChangePercent": "-0.136",
                "weightedAvgPrice": "69500.1", "prevClosePrice": "69800.0", "lastPrice": "69705.0",
                "lastQty": "0.001", "bidPrice": "69704.9", "bidQty": "1.2", "askPrice": "69705.0",
                "askQty": "0.5", "openPrice": "69800.0", "highPrice": "70500.0",
                "lowPrice": "68900.0", "volume": "8913.3", "quoteVolume": "619480000.5",
                "openTime": 1499783499040, "closeTime": 1499869899040, "firstId": 28385,
                "lastId": 28460, "count": 76}
BINANCE_KLINE = [1499040000000, "0.01634790", "0.80000000", "0.01575800", "0.01577100",
                 "148976.11427815", 1499644799999, "2434.19055334", 308, "1756.87402397",
                 "28.46694368", "0"]
BINANCE_INVALID = {"code": -1121, "msg": "Invalid symbol."}
BINANCE_429 = {"code": -1003, "msg": "Too much request weight used; current limit is 6000 request "
               "weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
               "polling the API."}

COINBASE_STATS = {"open": "6745.61", "high": "7292.11", "low": "6650.00", "last": "6813.19",
                  "volume": "26185.51325269", "volume_30day": "1019451.11188405"}

KRAKEN_TICKER_BTC = {"a": ["84036.10000", "2", "2.000"], "b": ["84036.00000", "1", "1.000"],
                     "c": ["84036.00000", "0.00112355"], "v": ["702.24523395", "3307.38151293"],
                     "p": ["84259.58809", "84073.56822"], "t": [33153, 135029],
                     "l": ["83740.10000", "82832.30000"], "h": ["84861.80000", "84914.80000"],
                     "o": "84380.00000"}
KRAKEN_TICKER = {"error": [], "result": {"XXBTZUSD": KRAKEN_TICKER_BTC}}
KRAKEN_OHLC = {"error": [], "result": {"XXBTZUSD": [[1688671200, "30306.1", "30306.2", "30305.7",
                                                      "30305.7", "30306.1", "3.39243896", 23]],
                                       "last": 1688672160}}

OKX_TICKER_ITEM = {"instType": "SPOT", "instId": "BTC-USDT", "last": "84036.1", "lastSz": "0.0012",
                   "askPx": "84036.2", "askSz": "0.5", "bidPx": "84036.1", "bidSz": "1.1",
                   "open24h": "84409.9", "high24h": "85200.4", "low24h": "82874.5",
                   "volCcy24h": "511984068.58", "vol24h": "6094.07", "ts": "1790323049365",
                   "sodUtc0": "84409.9", "sodUtc8": "84419.6"}
OKX_TICKER = {"code": "0", "msg": "", "data": [OKX_TICKER_ITEM]}
OKX_CANDLE = ["1784419200000", "64834", "64967.9", "64620", "64719.2", "393.08768811",
              "25469405.27", "25469405.27", "0"]
OKX_UNKNOWN = {"code": "51001", "msg": "Instrument ID, Instrument ID code, or Spread ID doesn't "
               "exist.", "data": []}
OKX_429 = {"msg": "Too Many Requests", "code": "50011"}

KUCOIN_STATS = {"code": "200000", "data": {
    "time": 1729175612158, "symbol": "BTC-USDT", "buy": "66982.4", "sell": "66982.5",
    "changeRate": "-0.0114", "changePrice": "-778.1", "high": "68107.7", "low": "66683.3",
    "vol": "1738.02898182", "volValue": "117321982.415978333", "last": "66981.5",
    "averagePrice": "67281.21437289", "takerFeeRate": "0.001", "makerFeeRate": "0.001",
    "takerCoefficient": "1", "makerCoefficient": "1"}}
KUCOIN_CANDLE = ["1566789720", "10411.5", "10401.9", "10411.5", "10396.3", "29.11357276",
                 "302889.301529914"]
KUCOIN_UNKNOWN = {"code": "200000", "data": None}
KUCOIN_429 = {"code": "429000", "msg": "Too Many Requests"}

BYBIT_TICKER_ITEM = {"symbol": "BTCUSDT", "bid1Price": "20517.96", "bid1Size": "2",
                     "ask1Price": "20527.77", "ask1Size": "1.862172", "lastPrice": "20533.13",
                     "prevPrice24h": "20393.48", "price24hPcnt": "0.0068",
                     "highPrice24h": "21128.12", "lowPrice24h": "20318.89",
                     "turnover24h": "243765620.65899866", "volume24h": "11801.27771",
                     "usdIndexPrice": "20784.12009279"}
BYBIT_TICKER = {"retCode": 0, "retMsg": "OK", "result": {"category": "spot",
                                                         "list": [BYBIT_TICKER_ITEM]},
                "retExtInfo": {}, "time": 1673859087947}
BYBIT_KLINE_ROW = ["1670608800000", "17071", "17073", "17027", "17055.5", "268.611", "4580000.5"]
BYBIT_UNKNOWN = {"retCode": 10001, "retMsg": "Not supported symbols", "result": {},
                 "retExtInfo": {}, "time": 1726147060461}


def okx_envelope(data):
    return {"code": "0", "msg": "", "data": data}


def kucoin_envelope(data):
    return {"code": "200000", "data": data}


def bybit_envelope(result):
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1672025956592}


# ----------------------------------------------------------------------------- every provider

ALL = [Binance, Coinbase, Kraken, OKX, KuCoin, Bybit]


def quote_body(cls, last):
    """A single-quote answer for `cls` whose last price is `last`."""
    if cls is Binance:
        return {**BINANCE_24HR, "lastPrice": last}
    if cls is Coinbase:
        return {**COINBASE_STATS, "last": last}
    if cls is Kraken:
        return {"error": [], "result": {"XXBTZUSD": {**KRAKEN_TICKER_BTC, "c": [last, "0.1"]}}}
    if cls is OKX:
        return okx_envelope([{**OKX_TICKER_ITEM, "last": last}])
    if cls is KuCoin:
        return kucoin_envelope({**KUCOIN_STATS["data"], "last": last})
    return {**BYBIT_TICKER, "result": {"category": "spot",
                                       "list": [{**BYBIT_TICKER_ITEM, "lastPrice": last}]}}


@pytest.mark.parametrize("cls", ALL)
def test_unlisted_ticker_is_unknown_without_any_http_call(cls, plain_http):
    p = cls(plain_http)
    with pytest.raises(UnknownSymbol, match=f"NOPE is not listed on {cls.label}"):
        p.fetch_quote("NOPE")
    with pytest.raises(UnknownSymbol):
        p.fetch_candles("NOPE", "1h", 10)
    assert plain_http.calls == []


@pytest.mark.parametrize("cls", [c for c in ALL if "quotes" in c.capabilities])
def test_batch_of_only_unlisted_tickers_makes_no_call(cls, plain_http):
    assert cls(plain_http).fetch_quotes(["NOPE", "ALSONOT"]) == {}
    assert plain_http.calls == []


@pytest.mark.parametrize("cls", ALL)
def test_html_instead_of_json_is_malformed(cls):
    p = provider(cls, 200, HTML, {"Content-Type": "text/html"})
    with pytest.raises(MalformedResponse, match="expected JSON"):
        p.fetch_quote("BTC")


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("bad", ["0", "abc", "-1", None])
def test_non_positive_or_non_numeric_price_is_malformed(cls, bad):
    with pytest.raises(MalformedResponse):
        provider(cls, 200, quote_body(cls, bad)).fetch_quote("BTC")


@pytest.mark.parametrize("cls", ALL)
def test_quote_through_provider_is_well_formed(cls):
    q = provider(cls, 200, quote_body(cls, "123.5")).fetch_quote("btc")
    assert q.symbol == "BTC" and q.price == 123.5 and q.source == cls.name
    assert q.quote_currency == cls.quote_currency
    assert q.timestamp > 1e9


@pytest.mark.parametrize("cls", ALL)
def test_unsupported_interval_names_what_exists(cls):
    p = provider(cls)
    with pytest.raises(Unsupported, match="interval 2h"):
        p.fetch_candles("BTC", "2h", 10)
    assert p.http.calls == []


def test_declared_limits_intervals_and_currencies():
    assert Binance.rate_limit.requests == 6000 and Binance.rate_limit.per_seconds == 60
    assert Coinbase.rate_limit.requests == 10 and Coinbase.rate_limit.per_seconds == 1
    assert "UNCONFIRMED" in Kraken.rate_limit.note
    assert (OKX.rate_limit.requests, OKX.rate_limit.per_seconds) == (20, 2)
    assert (KuCoin.rate_limit.requests, KuCoin.rate_limit.per_seconds) == (2000, 30)
    assert (Bybit.rate_limit.requests, Bybit.rate_limit.per_seconds) == (600, 5)
    assert Bybit.rate_limit.ban_s == 600
    assert [c.max_candles for c in ALL] == [1000, 300, 720, 300, 1500, 1000]
    assert set(Coinbase.intervals) == {"1m", "5m", "15m", "1h", "1d"}
    assert "quotes" not in Coinbase.capabilities
    assert OKX.intervals["1h"] == "1H" and OKX.intervals["1w"] == "1W"
    assert Bybit.intervals["1d"] == "D" and KuCoin.intervals["1w"] == "1week"
    assert Kraken.intervals["1w"] == "10080"
    assert {c.quote_currency for c in (Binance, OKX, KuCoin, Bybit)} == {"USDT"}
    assert {c.quote_currency for c in (Coinbase, Kraken)} == {"USD"}
    assert Binance.symbols["BTC"] == "BTCUSDT" and Coinbase.symbols["BTC"] == "BTC-USD"
    assert OKX.symbols["ETH"] == "ETH-USDT" and KuCoin.symbols["ETH"] == "ETH-USDT"
    assert Bybit.symbols["SOL"] == "SOLUSDT" and Kraken.symbols["BTC"] == "XBTUSD"
    assert "BNB" not in Coinbase.symbols and "XMR" not in Binance.symbols


# ----------------------------------------------------------------------------- Binance

def test_binance_ticker_keeps_percent_and_uses_quote_volume():
    q = binance.parse_ticker(BINANCE_24HR, "BTC")
    assert q.price == 69705.0 and q.quote_currency == "USDT"
    assert q.change_24h_pct == pytest.approx(-0.136)
    assert q.volume_24h == pytest.approx(619480000.5)
    assert q.timestamp == pytest.approx(1499869899.040)


def test_binance_batch_sends_compact_json_array_with_documented_weight():
    body = [BINANCE_24HR, {**BINANCE_24HR, "symbol": "ETHUSDT", "lastPrice": "3500.5"}]
    p = provider(Binance, 200, body)
    quotes = p.fetch_quotes(["ETH", "BTC", "HYPE"])     # HYPE is not on Binance
    assert set(quotes) == {"BTC", "ETH"} and quotes["ETH"].price == 3500.5
    call = p.http.calls[0]
    assert call["url"] == "http://fake/api/v3/ticker/24hr"
    assert call["params"] == {"symbols": '["BTCUSDT","ETHUSDT"]'}
    assert call["weight"] == 2 and call["kind"] == "quotes"


def test_binance_batch_weight_grows_with_symbol_count():
    assert binance.ticker_weight(1) == 2 and binance.ticker_weight(20) == 2
    assert binance.ticker_weight(21) == 40 and binance.ticker_weight(100) == 40
    p = provider(Binance, 200, [BINANCE_24HR])
    p.fetch_quotes(list(Binance.symbols)[:25])
    assert p.http.calls[0]["weight"] == 40


def test_binance_batch_skips_one_malformed_item_but_not_all():
    bad = {**BINANCE_24HR, "symbol": "ETHUSDT", "lastPrice": "abc"}
    wanted = {"BTCUSDT": "BTC", "ETHUSDT": "ETH"}
    assert set(binance.parse_tickers([BINANCE_24HR, bad], wanted)) == {"BTC"}
    with pytest.raises(MalformedResponse):
        binance.parse_tickers([bad], wanted)


def test_binance_invalid_symbol_400_is_unknown_symbol():
    with pytest.raises(UnknownSymbol, match="Invalid symbol"):
        provider(Binance, 400, BINANCE_INVALID).fetch_quote("BTC")


def test_binance_other_400_is_upstream_error():
    with pytest.raises(UpstreamError):
        provider(Binance, 400, {"code": -1120, "msg": "Invalid interval."}).fetch_quote("BTC")


def test_binance_429_is_rate_limited_with_retry_after():
    p = provider(Binance, 429, BINANCE_429, {"Retry-After": "17"})
    with pytest.raises(RateLimited) as err:
        p.fetch_quote("BTC")
    assert err.value.retry_after == 17 and not isinstance(err.value, Banned)


def test_binance_418_is_a_ban_with_retry_after():
    body = {"code": -1003,
            "msg": "Way too much request weight used; IP banned until 1700000000000."}
    with pytest.raises(Banned) as err:
        provider(Binance, 418, body, {"Retry-After": "120"}).fetch_quote("BTC")
    assert err.value.retry_after == 120


def test_binance_klines_are_ohlcv_in_seconds_and_ascending():
    rows = [[1499043600000, "2", "4", "1", "3", "10", 0, "0", 1, "0", "0", "0"], BINANCE_KLINE]
    candles = binance.parse_klines(rows)
    assert [c.timestamp for c in candles] == [1499040000, 1499043600]
    first = candles[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        0.0163479, 0.8, 0.015758, 0.015771, 148976.11427815)


def test_binance_candles_request_limit_capped_and_sliced():
    rows = [[1499040000000 + i * 3600_000, "1", "2", "0.5", "1.5", "3", 0, "0", 1, "0", "0", "0"]
            for i in range(5)]
    p = provider(Binance, 200, rows)
    out = p.fetch_candles("BTC", "1h", 3)
    assert [c.timestamp for c in out] == [1499040000 + i * 3600 for i in (2, 3, 4)]
    assert p.http.calls[0]["params"] == {"symbol": "BTCUSDT", "interval": "1h", "limit": 3}
    p.fetch_candles("BTC", "1h", 5000)
    assert p.http.calls[1]["params"]["limit"] == 1000


# ----------------------------------------------------------------------------- Coinbase

def test_coinbase_stats_computes_change_and_usd_volume():
    q = coinbase.parse_stats(COINBASE_STATS, "BTC", now=1700000000.0)
    assert q.price == 6813.19 and q.quote_currency == "USD" and q.timestamp == 1700000000.0
    assert q.change_24h_pct == pytest.approx((6813.19 - 6745.61) / 6745.61 * 100)
    assert q.volume_24h == pytest.approx(26185.51325269 * 6813.19)


def test_coinbase_quote_uses_stats_path():
    p = provider(Coinbase, 200, COINBASE_STATS)
    before = time.time()
    assert p.fetch_quote("ETH").timestamp >= before
    assert p.http.calls[0]["url"] == "http://fake/products/ETH-USD/stats"


def test_coinbase_candles_swap_low_high_and_come_out_ascending():
    rows = [[1700003600, 90.0, 120.0, 100.0, 110.0, 5.5],     # time, LOW, HIGH, open, close, vol
            [1700000000, 80.0, 105.0, 95.0, 100.0, 4.0]]      # newest first
    candles = coinbase.parse_candles(rows)
    assert [c.timestamp for c in candles] == [1700000000, 1700003600]
    last = candles[-1]
    assert (last.open, last.high, last.low, last.close, last.volume) == (100, 120, 90, 110, 5.5)


def test_coinbase_candles_slice_to_limit_without_time_range():
    rows = [[1700000000 + i * 60, 1, 3, 2, 2.5, 1] for i in reversed(range(10))]
    p = provider(Coinbase, 200, rows)
    out = p.fetch_candles("BTC", "1m", 4)
    assert [c.timestamp for c in out] == [1700000000 + i * 60 for i in (6, 7, 8, 9)]
    call = p.http.calls[0]
    assert call["url"] == "http://fake/products/BTC-USD/candles"
    assert call["params"] == {"granularity": "60"}


def test_coinbase_not_found_is_unknown_symbol_and_429_rate_limited():
    with pytest.raises(UnknownSymbol):
        provider(Coinbase, 404, {"message": "NotFound"}).fetch_quote("BTC")
    with pytest.raises(RateLimited, match="Public rate limit exceeded"):
        provider(Coinbase, 429, {"message": "Public rate limit exceeded"}).fetch_quote("BTC")


def test_coinbase_has_no_batch():
    with pytest.raises(Unsupported):
        provider(Coinbase).fetch_quotes(["BTC"])


# ----------------------------------------------------------------------------- Kraken

@pytest.mark.parametrize("altname, key", [
    ("XBTUSD", "XXBTZUSD"), ("ETHUSD", "XETHZUSD"), ("XRPUSD", "XXRPZUSD"),
    ("XLMUSD", "XXLMZUSD"), ("LTCUSD", "XLTCZUSD"), ("SOLUSD", "SOLUSD"), ("XDGUSD", "XDGUSD")])
def test_kraken_result_keys(altname, key):
    assert kraken.result_key(altname) == key


def test_kraken_ticker_reads_xxbtzusd_and_computes_change_and_volume():
    q = kraken.parse_ticker(KRAKEN_TICKER, "BTC", now=1700000000.0)
    assert q.price == 84036.0 and q.quote_currency == "USD" and q.timestamp == 1700000000.0
    assert q.change_24h_pct == pytest.approx((84036.0 - 84380.0) / 84380.0 * 100)
    assert q.volume_24h == pytest.approx(3307.38151293 * 84036.0)


def test_kraken_ticker_accepts_altname_key():
    body = {"error": [], "result": {"XBTUSD": KRAKEN_TICKER_BTC}}
    assert kraken.parse_ticker(body, "BTC").price == 84036.0


def test_kraken_batch_maps_canonical_names_back():
    def entry(last):
        return {**KRAKEN_TICKER_BTC, "c": [last, "1"]}
    body = {"error": [], "result": {"XXBTZUSD": entry("84036.0"), "XETHZUSD": entry("3100.5"),
                                    "SOLUSD": entry("150.25"), "XDGUSD": entry("0.2"),
                                    "XXRPZUSD": entry("abc")}}
    p = provider(Kraken, 200, body)
    quotes = p.fetch_quotes(["BTC", "ETH", "SOL", "DOGE", "XRP", "BNB"])
    assert {t: q.price for t, q in quotes.items()} == {
        "BTC": 84036.0, "ETH": 3100.5, "SOL": 150.25, "DOGE": 0.2}     # XRP malformed: skipped
    assert p.http.calls[0]["params"] == {"pair": "ETHUSD,SOLUSD,XBTUSD,XDGUSD,XRPUSD"}


@pytest.mark.parametrize("error, exc", [
    ("EQuery:Unknown asset pair", UnknownSymbol),
    ("EAPI:Rate limit exceeded", RateLimited),
    ("EGeneral:Too many requests", RateLimited),
    ("EGeneral:Invalid arguments", UpstreamError),
    ("EService:Unavailable", UpstreamError),
])
def test_kraken_errors_under_http_200(error, exc):
    p = provider(Kraken, 200, {"error": [error]})
    with pytest.raises(exc) as err:
        p.fetch_quote("BTC")
    assert type(err.value) is exc
    with pytest.raises(exc):
        kraken.parse_ticker({"error": [error]}, "BTC")


def test_kraken_throttled_gives_retry_after_from_the_timestamp():
    with pytest.raises(RateLimited) as err:
        kraken.check_errors({"error": ["EService:Throttled: 1700000030"]}, now=1700000000.0)
    assert err.value.retry_after == pytest.approx(30.0)


def test_kraken_warnings_alone_are_not_errors():
    kraken.check_errors({"error": ["WGeneral:Something"], "result": {}})


def test_kraken_ohlc_takes_volume_from_column_6_not_vwap():
    (candle,) = kraken.parse_ohlc(KRAKEN_OHLC)
    assert candle.timestamp == 1688671200
    assert (candle.open, candle.high, candle.low, candle.close) == (
        30306.1, 30306.2, 30305.7, 30305.7)
    assert candle.volume == 3.39243896


def test_kraken_candles_slice_to_limit():
    rows = [[1688671200 + i * 60, "1", "2", "0.5", "1.5", "1.2", "7", 3] for i in range(10)]
    p = provider(Kraken, 200, {"error": [], "result": {"XXBTZUSD": rows, "last": 1688671800}})
    out = p.fetch_candles("BTC", "1m", 3)
    assert [c.timestamp for c in out] == [1688671200 + i * 60 for i in (7, 8, 9)]
    assert p.http.calls[0]["params"] == {"pair": "XBTUSD", "interval": "1"}


# ----------------------------------------------------------------------------- OKX

def test_okx_ticker_computes_change_from_open24h():
    q = okx.parse_ticker(OKX_TICKER, "BTC")
    assert q.price == 84036.1 and q.quote_currency == "USDT"
    assert q.change_24h_pct == pytest.approx((84036.1 - 84409.9) / 84409.9 * 100)
    assert q.volume_24h == pytest.approx(511984068.58)
    assert q.timestamp == pytest.approx(1790323049.365)


def test_okx_batch_filters_all_spot_tickers():
    data = [OKX_TICKER_ITEM, {**OKX_TICKER_ITEM, "instId": "ETH-USDT", "last": "3000"},
            {**OKX_TICKER_ITEM, "instId": "ETH-BTC", "last": "0.05"}]
    p = provider(OKX, 200, okx_envelope(data))
    quotes = p.fetch_quotes(["BTC", "ETH", "XMR"])
    assert {t: q.price for t, q in quotes.items()} == {"BTC": 84036.1, "ETH": 3000.0}
    assert p.http.calls[0]["url"] == "http://fake/api/v5/market/tickers"
    assert p.http.calls[0]["params"] == {"instType": "SPOT"}


@pytest.mark.parametrize("status, body, exc", [
    (200, OKX_UNKNOWN, UnknownSymbol),
    (200, OKX_429, RateLimited),
    (429, OKX_429, RateLimited),
    (200, {"code": "50001", "msg": "Service temporarily unavailable", "data": []}, UpstreamError),
])
def test_okx_code_errors(status, body, exc):
    with pytest.raises(exc):
        provider(OKX, status, body).fetch_quote("BTC")


def test_okx_candles_newest_first_come_out_ascending():
    older = ["1784415600000", "64000", "64900", "63900", "64834", "100", "1", "1", "1"]
    candles = okx.parse_candles(okx_envelope([OKX_CANDLE, older]))
    assert [c.timestamp for c in candles] == [1784415600, 1784419200]
    last = candles[-1]
    assert (last.open, last.high, last.low, last.close, last.volume) == (
        64834, 64967.9, 64620, 64719.2, 393.08768811)


def test_okx_candle_request_uses_uppercase_bar_and_capped_limit():
    p = provider(OKX, 200, okx_envelope([OKX_CANDLE]))
    p.fetch_candles("BTC", "4h", 1000)
    assert p.http.calls[0]["params"] == {"instId": "BTC-USDT", "bar": "4H", "limit": 300}


# ----------------------------------------------------------------------------- KuCoin

def test_kucoin_stats_change_rate_fraction_becomes_percent():
    q = kucoin.parse_stats(KUCOIN_STATS, "BTC")
    assert q.price == 66981.5 and q.quote_currency == "USDT"
    assert q.change_24h_pct == pytest.approx(-1.14)
    assert q.volume_24h == pytest.approx(117321982.415978333)
    assert q.timestamp == pytest.approx(1729175612.158)


def test_kucoin_quote_request_weight():
    p = provider(KuCoin, 200, KUCOIN_STATS)
    p.fetch_quote("BTC")
    call = p.http.calls[0]
    assert call["url"] == "http://fake/api/v1/market/stats"
    assert call["params"] == {"symbol": "BTC-USDT"} and call["weight"] == 15


def test_kucoin_all_tickers_filtered_with_percent():
    items = [{"symbol": "BTC-USDT", "symbolName": "BTC-USDT", "changeRate": "0.0123",
              "last": "67000", "volValue": "1000000"},
             {"symbol": "ETH-USDT", "symbolName": "ETH-USDT", "changeRate": "-0.02",
              "last": "3100", "volValue": "500000"},
             {"symbol": "ETH-BTC", "symbolName": "ETH-BTC", "changeRate": "0", "last": "0.05"}]
    p = provider(KuCoin, 200, kucoin_envelope({"time": 1729175612158, "ticker": items}))
    quotes = p.fetch_quotes(["BTC", "ETH"])
    assert quotes["BTC"].change_24h_pct == pytest.approx(1.23)
    assert quotes["ETH"].change_24h_pct == pytest.approx(-2.0)
    assert quotes["ETH"].timestamp == pytest.approx(1729175612.158)
    assert p.http.calls[0]["url"] == "http://fake/api/v1/market/allTickers"
    assert p.http.calls[0]["weight"] == 15


def test_kucoin_null_data_is_unknown_symbol():
    with pytest.raises(UnknownSymbol):
        provider(KuCoin, 200, KUCOIN_UNKNOWN).fetch_quote("BTC")
    with pytest.raises(UnknownSymbol):
        kucoin.parse_stats(KUCOIN_UNKNOWN, "BTC")


def test_kucoin_all_null_stats_is_unknown_symbol():
    body = kucoin_envelope({"time": 1729175612158, "symbol": "BTC-USDT", "buy": None,
                            "sell": None, "last": None, "vol": None, "changeRate": None})
    with pytest.raises(UnknownSymbol):
        kucoin.parse_stats(body, "BTC")


def test_kucoin_429_uses_gw_ratelimit_reset_in_ms():
    p = provider(KuCoin, 429, KUCOIN_429, {"gw-ratelimit-reset": "1500"})
    with pytest.raises(RateLimited) as err:
        p.fetch_quote("BTC")
    assert err.value.retry_after == pytest.approx(1.5) and err.value.status == 429


def test_kucoin_429_without_headers_is_still_rate_limited():
    with pytest.raises(RateLimited):
        provider(KuCoin, 429, KUCOIN_429).fetch_quote("BTC")


def test_kucoin_code_errors_under_http_200():
    with pytest.raises(RateLimited):
        provider(KuCoin, 200, KUCOIN_429).fetch_quote("BTC")
    with pytest.raises(UpstreamError):
        provider(KuCoin, 200, {"code": "400100", "msg": "bad"}).fetch_quote("BTC")


def test_kucoin_candle_columns_open_close_high_low():
    (candle,) = kucoin.parse_candles(kucoin_envelope([KUCOIN_CANDLE]))
    row = KUCOIN_CANDLE
    assert candle.timestamp == 1566789720
    assert candle.open == float(row[1]) and candle.close == float(row[2])
    assert candle.high == float(row[3]) and candle.low == float(row[4])
    assert candle.volume == float(row[5])


def test_kucoin_candles_newest_first_sliced_to_limit():
    rows = [[str(1566789720 + i * 60), "1", "2", "3", "0.5", "9", "9"] for i in reversed(range(6))]
    p = provider(KuCoin, 200, kucoin_envelope(rows))
    out = p.fetch_candles("BTC", "1m", 2)
    assert [c.timestamp for c in out] == [1566789720 + 4 * 60, 1566789720 + 5 * 60]
    call = p.http.calls[0]
    assert call["params"] == {"symbol": "BTC-USDT", "type": "1min"} and call["weight"] == 3


# ----------------------------------------------------------------------------- Bybit

def test_bybit_ticker_fraction_becomes_percent_and_envelope_time():
    q = bybit.parse_ticker(BYBIT_TICKER, "BTC")
    assert q.price == 20533.13 and q.quote_currency == "USDT"
    assert q.change_24h_pct == pytest.approx(0.68)
    assert q.volume_24h == pytest.approx(243765620.65899866)
    assert q.timestamp == pytest.approx(1673859087.947)


def test_bybit_quote_and_batch_requests():
    p = provider(Bybit, 200, BYBIT_TICKER)
    p.fetch_quote("BTC")
    quotes = p.fetch_quotes(["BTC", "ETH", "QNT"])          # ETH not in this body, QNT unlisted
    assert set(quotes) == {"BTC"}
    assert p.http.calls[0]["params"] == {"category": "spot", "symbol": "BTCUSDT"}
    assert p.http.calls[1]["params"] == {"category": "spot"}
    assert p.http.calls[1]["url"] == "http://fake/v5/market/tickers"


@pytest.mark.parametrize("body, exc", [
    (BYBIT_UNKNOWN, UnknownSymbol),
    ({"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "time": 1}, RateLimited),
    ({"retCode": 10001, "retMsg": "Request parameter error", "result": {}, "time": 1},
     UpstreamError),
    ({"retCode": 10016, "retMsg": "Server error", "result": {}, "time": 1}, UpstreamError),
])
def test_bybit_ret_code_errors_under_http_200(body, exc):
    with pytest.raises(exc) as err:
        provider(Bybit, 200, body).fetch_quote("BTC")
    assert type(err.value) is exc


def test_bybit_403_is_a_ten_minute_ban():
    p = provider(Bybit, 403, "403, access too frequent", {"Content-Type": "text/plain"})
    with pytest.raises(Banned) as err:
        p.fetch_quote("BTC")
    assert err.value.retry_after == 600 and err.value.status == 403


def test_bybit_kline_newest_first_comes_out_ascending():
    older = ["1670605200000", "17000", "17080", "16990", "17071", "100", "1700000"]
    candles = bybit.parse_kline(bybit_envelope({"category": "spot", "symbol": "BTCUSDT",
                                                "list": [BYBIT_KLINE_ROW, older]}))
    assert [c.timestamp for c in candles] == [1670605200, 1670608800]
    last = candles[-1]
    assert (last.open, last.high, last.low, last.close, last.volume) == (
        17071, 17073, 17027, 17055.5, 268.611)


def test_bybit_kline_request_params():
    p = provider(Bybit, 200, bybit_envelope({"category": "spot", "symbol": "BTCUSDT",
                                             "list": [BYBIT_KLINE_ROW]}))
    p.fetch_candles("BTC", "1d", 50)
    assert p.http.calls[0]["params"] == {"category": "spot", "symbol": "BTCUSDT",
                                         "interval": "D", "limit": 50}
