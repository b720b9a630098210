"""CryptoCompare: RAW quotes, histo candles, top list, news, and its errors under HTTP 200."""
from __future__ import annotations

import pytest

from providers.base import (KIND_CANDLES, KIND_NEWS, KIND_QUOTE, KIND_TOP, MalformedResponse,
                            NotConfigured, RateLimited, UnknownSymbol, UpstreamError)
from providers.cryptocompare import (CryptoCompare, check_error, exhausted_window, parse_histo,
                                     parse_news, parse_pricemultifull, parse_top, summarize)
from tests.fake_upstream import FakeHTTP, reply

# Copied from reference/provider-apis.md §5.
PRICEMULTIFULL = {
    "RAW": {"BTC": {"USD": {"TYPE": "5", "MARKET": "CCCAGG", "FROMSYMBOL": "BTC", "TOSYMBOL": "USD",
                            "FLAGS": "2050", "PRICE": 59692.06, "LASTUPDATE": 1618082612,
                            "VOLUME24HOUR": 34972.74, "VOLUME24HOURTO": 2097598475.22,
                            "OPEN24HOUR": 58365.92, "HIGH24HOUR": 61222.49, "LOW24HOUR": 57866.04,
                            "CHANGE24HOUR": 1326.14, "CHANGEPCT24HOUR": 2.2721,
                            "SUPPLY": 18679087, "MKTCAP": 1114993181949.22}}},
    "DISPLAY": {"BTC": {"USD": {"FROMSYMBOL": "Ƀ", "TOSYMBOL": "$", "PRICE": "$ 59,692.1",
                                "CHANGEPCT24HOUR": "2.27", "MKTCAP": "$ 1.11 T"}}}}
HISTO_ROW = {"time": 1652140800, "high": 32625.41, "low": 29836.19, "open": 30076.9,
             "volumefrom": 103840.6, "volumeto": 3244062170.09, "close": 31013.12,
             "conversionType": "direct", "conversionSymbol": ""}
NO_DATA = {"Response": "Error", "Message": "There is no data for the symbol BTCCC .",
           "HasWarning": False, "Type": 2, "RateLimit": {}, "Data": {}, "ParamWithError": "fsym"}
RATE_LIMIT = {"Response": "Error",
              "Message": "You are over your rate limit please upgrade your account!",
              "HasWarning": False, "Type": 99,
              "RateLimit": {"calls_made": {"second": 53, "minute": 915, "hour": 63283,
                                           "day": 127321, "month": 6720577,
                                           "total_calls": 29374377},
                            "max_calls": {"second": 50, "minute": 2000, "hour": 100000,
                                          "day": 1500000, "month": 15000000}},
              "Data": {}}


def histo(*rows: dict) -> dict:
    return {"Response": "Success", "Message": "", "HasWarning": False, "Type": 100,
            "RateLimit": {}, "Data": {"Aggregated": False, "TimeFrom": rows[0]["time"],
                                      "TimeTo": rows[-1]["time"], "Data": list(rows)}}


def hour(n: int, close: float = 31000.0) -> dict:
    return dict(HISTO_ROW, time=1652140800 + 3600 * n, close=close)


# Shapes below are not in the reference (its §5 leaves mktcapfull items and news UNCONFIRMED);
# they follow the brief: Data[].CoinInfo + RAW.USD, and Data[] of articles.
def top_item(name: str, full: str, usd_price, mktcap) -> dict:
    raw = dict(PRICEMULTIFULL["RAW"]["BTC"]["USD"], FROMSYMBOL=name, PRICE=usd_price,
               MKTCAP=mktcap)
    return {"CoinInfo": {"Id": "1182", "Name": name, "FullName": full}, "RAW": {"USD": raw},
            "DISPLAY": {"USD": {"PRICE": "$ 1"}}}


TOP = {"Message": "Success", "Type": 100, "MetaData": {"Count": 3}, "SponsoredData": [],
       "Data": [top_item("BTC", "Bitcoin", 59692.06, 1114993181949.22),
                {"CoinInfo": {"Name": "NORAW", "FullName": "No USD data"}},
                top_item("ETH", "Ethereum", 3120.03, 375000000000.0)],
       "RateLimit": {}, "HasWarning": False}
LONG_BODY = "Bitcoin rallied " + "strongly " * 60 + "today."
NEWS = {"Type": 100, "Message": "News list successfully returned", "Promoted": [],
        "Data": [{"id": "1", "published_on": 1700000000, "title": "BTC  up", "url": "https://x/1",
                  "body": LONG_BODY, "categories": "BTC|Market", "source": "coindesk",
                  "source_info": {"name": "CoinDesk", "lang": "EN"}},
                 {"id": "2", "published_on": 1699990000, "title": "", "url": "https://x/2"},
                 {"id": "3", "published_on": 1699980000, "title": "ETH news", "url": "https://x/3",
                  "body": "Short.", "source": "decrypt"}],
        "RateLimit": {}, "HasWarning": False}


# ---------------------------------------------------------------------------- parsers

def test_pricemultifull():
    quote = parse_pricemultifull(PRICEMULTIFULL, ["BTC"])["BTC"]
    assert quote.price == 59692.06 and quote.timestamp == 1618082612
    assert quote.change_24h_pct == pytest.approx(2.2721)                    # percent
    assert quote.volume_24h == pytest.approx(2097598475.22)                 # in USD
    assert quote.market_cap == pytest.approx(1114993181949.22)
    assert (quote.source, quote.quote_currency) == ("cryptocompare", "USD")


def test_pricemultifull_leaves_out_missing_and_skips_malformed():
    raw = PRICEMULTIFULL["RAW"]["BTC"]["USD"]
    body = {"RAW": {"BTC": {"USD": raw}, "ETH": {"USD": dict(raw, PRICE="abc")}}}
    assert set(parse_pricemultifull(body, ["BTC", "ETH", "SOL"])) == {"BTC"}
    for bad in ("abc", 0):
        with pytest.raises(MalformedResponse):
            parse_pricemultifull({"RAW": {"BTC": {"USD": dict(raw, PRICE=bad)}}}, ["BTC"])
    with pytest.raises(MalformedResponse):
        parse_pricemultifull({"DISPLAY": {}}, ["BTC"])


def test_histo_ascending_drops_zero_rows():
    zero = {"time": 1652140800 - 3600, "open": 0, "high": 0, "low": 0, "close": 0,
            "volumefrom": 0, "volumeto": 0}
    candles = parse_histo(histo(zero, hour(2), HISTO_ROW, hour(1)))
    assert [c.timestamp for c in candles] == [1652140800, 1652144400, 1652148000]
    first = candles[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == \
        (30076.9, 32625.41, 29836.19, 31013.12, 103840.6)
    with pytest.raises(MalformedResponse):
        parse_histo(histo(zero))
    with pytest.raises(MalformedResponse):
        parse_histo({"Response": "Success", "Data": []})


def test_top_ranks_by_position_and_skips_coins_without_usd():
    top = parse_top(TOP)
    assert [(c.rank, c.symbol, c.name) for c in top] == [(1, "BTC", "Bitcoin"),
                                                         (3, "ETH", "Ethereum")]
    assert top[0].market_cap == pytest.approx(1114993181949.22)
    with pytest.raises(MalformedResponse):
        parse_top({"Data": [top_item("BTC", "Bitcoin", "abc", 1.0)]})


def test_news():
    items = parse_news(NEWS, 10)
    assert [i.title for i in items] == ["BTC up", "ETH news"]        # untitled article skipped
    first = items[0]
    assert first.published == 1700000000 and first.url == "https://x/1"
    assert first.publisher == "CoinDesk" and first.source == "cryptocompare"
    assert len(first.summary) <= 301 and first.summary.endswith("…")
    assert items[1].publisher == "decrypt" and items[1].summary == "Short."
    assert len(parse_news(NEWS, 1)) == 1
    assert parse_news(dict(NEWS, Data=[]), 5) == []


def test_summarize_cuts_at_a_word():
    assert summarize("a  b\n c") == "a b c"
    cut = summarize("word " * 100, 23)
    assert cut == "word word word word…"


# ---------------------------------------------------------------------------- errors

def test_no_data_under_200_is_unknown_symbol():
    with pytest.raises(UnknownSymbol, match="no data for the symbol"):
        check_error(NO_DATA)
    market = dict(NO_DATA, Message="cccagg_or_exchange market does not exist for this coin "
                                   "pair (EZETH-USD)")
    with pytest.raises(UnknownSymbol):
        check_error(market)


def test_type_99_under_200_is_rate_limited_with_window():
    with pytest.raises(RateLimited) as err:
        check_error(RATE_LIMIT)
    assert err.value.retry_after == 1                    # only the per-second window is used up


def test_exhausted_window_picks_the_longest():
    counters = {"calls_made": {"second": 1, "minute": 10, "month": 75000},
                "max_calls": {"second": 20, "minute": 300, "month": 75000}}
    assert exhausted_window(counters) == 30 * 86400
    assert exhausted_window({}) is None


def test_other_body_errors():
    with pytest.raises(UpstreamError):
        check_error(dict(NO_DATA, Message="tsym is a required param.", Type=2))
    with pytest.raises(NotConfigured):
        check_error(dict(NO_DATA, Message="You need a valid auth key or api key to access this "
                                          "endpoint"))
    check_error({"RAW": {}})                           # not an error body


@pytest.mark.parametrize("status", [200, 429])
def test_rate_limit_body_same_under_200_and_429(status):
    with pytest.raises(RateLimited) as err:
        CryptoCompare(FakeHTTP(reply(RATE_LIMIT, status))).fetch_quote("BTC")
    assert err.value.retry_after == 1


def test_fetch_candles_no_data_under_200():
    with pytest.raises(UnknownSymbol):
        CryptoCompare(FakeHTTP(reply(NO_DATA))).fetch_candles("BTC", "1h", 10)


def test_html_under_200_is_malformed():
    with pytest.raises(MalformedResponse):
        CryptoCompare(FakeHTTP(reply(text="<html>502 Bad Gateway</html>"))).fetch_quote("BTC")


# ---------------------------------------------------------------------------- requests

def test_fetch_quote_request_shape():
    http = FakeHTTP(reply(PRICEMULTIFULL))
    assert CryptoCompare(http, base_url="http://cc.test").fetch_quote("btc").price == 59692.06
    (call,) = http.calls
    assert call["url"] == "http://cc.test/data/pricemultifull" and call["kind"] == KIND_QUOTE
    assert call["params"] == {"fsyms": "BTC", "tsyms": "USD"}


def test_fetch_quote_missing_from_raw_is_unknown():
    with pytest.raises(UnknownSymbol):
        CryptoCompare(FakeHTTP(reply({"RAW": {}, "DISPLAY": {}}))).fetch_quote("BTC")


@pytest.mark.parametrize("interval, path, aggregate", [
    ("1m", "histominute", 1), ("15m", "histominute", 15), ("30m", "histominute", 30),
    ("1h", "histohour", 1), ("4h", "histohour", 4), ("1d", "histoday", 1), ("1w", "histoday", 7)])
def test_fetch_candles_endpoint_and_aggregate(interval, path, aggregate):
    http = FakeHTTP(reply(histo(HISTO_ROW, hour(1), hour(2))))
    candles = CryptoCompare(http, base_url="http://cc.test").fetch_candles("ETH", interval, 2)
    assert [c.timestamp for c in candles] == [1652144400, 1652148000]   # limit+1 trimmed
    (call,) = http.calls
    assert call["url"] == f"http://cc.test/data/v2/{path}" and call["kind"] == KIND_CANDLES
    assert call["params"] == {"fsym": "ETH", "tsym": "USD", "limit": 2, "aggregate": aggregate}


def test_fetch_top_and_news_request_shape():
    http = FakeHTTP(reply(TOP), reply(NEWS), reply(NEWS))
    cc = CryptoCompare(http, base_url="http://cc.test")
    assert [c.symbol for c in cc.fetch_top(1)] == ["BTC"]
    assert len(cc.fetch_news("btc", 5)) == 2
    cc.fetch_news(None, 5)
    top, news_btc, news_all = http.calls
    assert top["url"] == "http://cc.test/data/top/mktcapfull" and top["kind"] == KIND_TOP
    assert top["params"] == {"limit": 10, "tsym": "USD"}
    assert news_btc["url"] == "http://cc.test/data/v2/news/" and news_btc["kind"] == KIND_NEWS
    assert news_btc["params"] == {"lang": "EN", "categories": "BTC"}
    assert news_all["params"] == {"lang": "EN"}


def test_unknown_ticker_makes_no_http_call(plain_http):
    cc = CryptoCompare(plain_http, base_url="http://127.0.0.1:9")
    for call in (lambda: cc.fetch_quote("NOPE"), lambda: cc.fetch_candles("NOPE", "1h", 5),
                 lambda: cc.fetch_news("NOPE", 5)):
        with pytest.raises(UnknownSymbol, match="NOPE is not listed on CryptoCompare"):
            call()
    assert cc.fetch_quotes(["NOPE"]) == {}
    assert plain_http.calls == []


def test_key_goes_in_the_authorization_header_only(monkeypatch):
    secret = "cc-secret-abcdef"
    monkeypatch.setenv("CRYPTOCOMPARE_API_KEY", secret)
    http = FakeHTTP(reply(PRICEMULTIFULL), reply(RATE_LIMIT))
    cc = CryptoCompare(http)
    cc.fetch_quotes(["BTC"])
    with pytest.raises(RateLimited) as err:
        cc.fetch_candles("BTC", "1h", 5)
    assert all(c["headers"]["authorization"] == f"Apikey {secret}" for c in http.calls)
    assert not http.sent_in_url(secret) and secret not in str(err.value)
