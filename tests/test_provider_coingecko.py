"""CoinGecko: parsers on the reference's bodies, status handling, symbol rules and the Demo key."""
from __future__ import annotations

import pytest

from providers.base import (KIND_CANDLES, KIND_QUOTE, KIND_QUOTES, KIND_TOP, MalformedResponse,
                            RateLimited, UnknownSymbol, Unsupported)
from providers.coingecko import (CoinGecko, ohlc_days, parse_markets, parse_ohlc,
                                 parse_simple_price)
from tests.fake_upstream import FakeHTTP, reply

# Bodies copied from reference/provider-apis.md §1.
SIMPLE_PRICE = {
    "bitcoin": {"usd": 67187.3358936566, "usd_market_cap": 1317802988326.25,
                "usd_24h_vol": 31260929299.5248, "usd_24h_change": 3.63727894677354,
                "last_updated_at": 1711356300},
    "ethereum": {"usd": 3412.55, "usd_market_cap": 410000000000.1, "usd_24h_vol": 15000000000.2,
                 "usd_24h_change": -1.2, "last_updated_at": 1711356290},
}
MARKETS = [{"id": "bitcoin", "symbol": "btc", "name": "Bitcoin",
            "image": "https://assets.coingecko.com/coins/images/1/large/bitcoin.png?1696501400",
            "current_price": 70187, "market_cap": 1381651251183, "market_cap_rank": 1,
            "fully_diluted_valuation": 1474623675796, "total_volume": 20154184933,
            "high_24h": 70215, "low_24h": 68060, "price_change_24h": 2126.88,
            "price_change_percentage_24h": 3.12502, "market_cap_change_24h": 44287678051,
            "market_cap_change_percentage_24h": 3.31157, "circulating_supply": 19675987,
            "total_supply": 21000000, "max_supply": 21000000, "ath": 73738,
            "ath_change_percentage": -4.77063, "ath_date": "2024-03-14T07:10:36.635Z",
            "atl": 67.81, "atl_change_percentage": 103455.83335,
            "atl_date": "2013-07-06T00:00:00.000Z", "roi": None,
            "last_updated": "2024-04-07T16:49:31.736Z"}]
OHLC = [[1709395200000, 61942, 62211, 61721, 61845], [1709409600000, 61828, 62139, 61726, 62139]]
RATE_LIMIT_429 = {"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit. "
                             "Please visit https://www.coingecko.com/en/api/pricing to subscribe "
                             "to our API plans for higher rate limits."}}
CLOUDFLARE_HTML = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
                   "<body>Error 1015 You are being rate limited</body></html>")


# ---------------------------------------------------------------------------- parsers

def test_simple_price_batch():
    quotes = parse_simple_price(SIMPLE_PRICE, {"BTC": "bitcoin", "ETH": "ethereum"})
    btc = quotes["BTC"]
    assert btc.price == pytest.approx(67187.3358936566)
    assert btc.change_24h_pct == pytest.approx(3.63727894677354)   # already percent
    assert btc.volume_24h == pytest.approx(31260929299.5248)
    assert btc.market_cap == pytest.approx(1317802988326.25)
    assert btc.timestamp == 1711356300 and btc.quote_currency == "USD"
    assert btc.source == "coingecko" and btc.symbol == "BTC"
    assert quotes["ETH"].change_24h_pct == pytest.approx(-1.2)


def test_simple_price_leaves_out_unknown_ids():
    assert parse_simple_price({}, {"BTC": "bitcoin"}) == {}
    only_btc = {"bitcoin": SIMPLE_PRICE["bitcoin"]}
    assert set(parse_simple_price(only_btc, {"BTC": "bitcoin", "ETH": "ethereum"})) == {"BTC"}


@pytest.mark.parametrize("bad", [{"usd": "abc"}, {"usd": 0}, {"usd": -3}, {"usd_24h_vol": 1}, 7])
def test_simple_price_malformed_coin_is_skipped_unless_all_are(bad):
    body = {"bitcoin": bad, "ethereum": SIMPLE_PRICE["ethereum"]}
    assert set(parse_simple_price(body, {"BTC": "bitcoin", "ETH": "ethereum"})) == {"ETH"}
    with pytest.raises(MalformedResponse):
        parse_simple_price({"bitcoin": bad}, {"BTC": "bitcoin"})


def test_simple_price_not_an_object():
    with pytest.raises(MalformedResponse):
        parse_simple_price([], {"BTC": "bitcoin"})


def test_markets():
    (btc,) = parse_markets(MARKETS)
    assert (btc.rank, btc.symbol, btc.name) == (1, "BTC", "Bitcoin")
    assert btc.price == 70187 and btc.market_cap == 1381651251183
    assert btc.change_24h_pct == pytest.approx(3.12502) and btc.volume_24h == 20154184933


def test_markets_skips_bad_rows_and_rejects_all_bad():
    bad = dict(MARKETS[0], symbol="eth", current_price="abc")
    assert [c.symbol for c in parse_markets([bad, MARKETS[0]])] == ["BTC"]
    with pytest.raises(MalformedResponse):
        parse_markets([bad])
    with pytest.raises(MalformedResponse):
        parse_markets({"error": "invalid vs_currency"})


def test_ohlc_close_time_becomes_open_time_in_seconds():
    candles = parse_ohlc(OHLC, "4h")
    assert [c.timestamp for c in candles] == [1709395200 - 14400, 1709409600 - 14400]
    first = candles[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == \
        (61942, 62211, 61721, 61845, 0.0)
    assert parse_ohlc(OHLC[:1], "30m")[0].timestamp == 1709395200 - 1800


def test_ohlc_sorts_and_skips_bad_rows():
    candles = parse_ohlc([OHLC[1], [1709395200000, "abc", 1, 1, 1], OHLC[0]], "4h")
    assert [c.timestamp for c in candles] == [1709380800, 1709395200]
    with pytest.raises(MalformedResponse):
        parse_ohlc([[1709395200000, 0, 0, 0, 0]], "4h")


@pytest.mark.parametrize("interval, limit, days", [
    ("30m", 10, 1), ("30m", 200, 1), ("4h", 42, 7), ("4h", 43, 14), ("4h", 84, 14),
    ("4h", 100, 30), ("4h", 999, 30)])
def test_ohlc_days_uses_only_allowed_spans(interval, limit, days):
    assert ohlc_days(interval, limit) == days


# ---------------------------------------------------------------------------- through get_json

def test_fetch_quote_request_shape():
    http = FakeHTTP(reply({"bitcoin": SIMPLE_PRICE["bitcoin"]}))
    quote = CoinGecko(http, base_url="http://cg.test").fetch_quote("btc")
    assert quote.symbol == "BTC" and quote.price == pytest.approx(67187.3358936566)
    (call,) = http.calls
    assert call["url"] == "http://cg.test/api/v3/simple/price" and call["kind"] == KIND_QUOTE
    assert call["params"] == {"ids": "bitcoin", "vs_currencies": "usd",
                              "include_market_cap": "true", "include_24hr_vol": "true",
                              "include_24hr_change": "true", "include_last_updated_at": "true"}


def test_fetch_quote_empty_body_is_unknown_symbol():
    with pytest.raises(UnknownSymbol):
        CoinGecko(FakeHTTP(reply({}))).fetch_quote("BTC")


def test_fetch_quotes_requests_only_listed_ids():
    http = FakeHTTP(reply(SIMPLE_PRICE))
    quotes = CoinGecko(http).fetch_quotes(["ETH", "NOPE", "btc"])
    assert set(quotes) == {"BTC", "ETH"}
    assert http.calls[0]["params"]["ids"] == "bitcoin,ethereum"
    assert http.calls[0]["kind"] == KIND_QUOTES
    assert CoinGecko(FakeHTTP(reply({}))).fetch_quotes(["NOPE"]) == {}


def test_fetch_top_and_candles_request_shape():
    http = FakeHTTP(reply(MARKETS), reply(OHLC))
    cg = CoinGecko(http, base_url="http://cg.test")
    assert cg.fetch_top(5)[0].symbol == "BTC"
    candles = cg.fetch_candles("BTC", "4h", 1)
    assert [c.timestamp for c in candles] == [1709395200]          # the last `limit` only
    top, ohlc = http.calls
    assert top["params"] == {"vs_currency": "usd", "order": "market_cap_desc", "per_page": 5,
                             "page": 1} and top["kind"] == KIND_TOP
    assert ohlc["url"] == "http://cg.test/api/v3/coins/bitcoin/ohlc"
    assert ohlc["params"] == {"vs_currency": "usd", "days": 7} and ohlc["kind"] == KIND_CANDLES


def test_unsupported_interval_makes_no_call():
    http = FakeHTTP(reply(OHLC))
    with pytest.raises(Unsupported):
        CoinGecko(http).fetch_candles("BTC", "1h", 10)
    assert http.calls == []


def test_coin_not_found_404():
    with pytest.raises(UnknownSymbol) as err:
        CoinGecko(FakeHTTP(reply({"error": "coin not found"}, 404))).fetch_candles("BTC", "4h", 5)
    assert err.value.status == 404


def test_429_json_with_retry_after():
    http = FakeHTTP(reply(RATE_LIMIT_429, 429, {"retry-after": "119", "server": "cloudflare"}))
    with pytest.raises(RateLimited) as err:
        CoinGecko(http).fetch_quote("BTC")
    assert err.value.retry_after == 119 and err.value.status == 429
    assert "exceeded the Rate Limit" in err.value.message


def test_429_cloudflare_html_with_retry_after():
    http = FakeHTTP(reply(status=429, headers={"retry-after": "60"}, text=CLOUDFLARE_HTML))
    with pytest.raises(RateLimited) as err:
        CoinGecko(http).fetch_top(10)
    assert err.value.retry_after == 60


def test_html_under_200_is_malformed():
    with pytest.raises(MalformedResponse):
        CoinGecko(FakeHTTP(reply(text=CLOUDFLARE_HTML))).fetch_quote("BTC")


def test_unknown_ticker_makes_no_http_call(plain_http):
    cg = CoinGecko(plain_http, base_url="http://127.0.0.1:9")
    for call in (lambda: cg.fetch_quote("NOPE"), lambda: cg.fetch_candles("NOPE", "4h", 10)):
        with pytest.raises(UnknownSymbol, match="NOPE is not listed on CoinGecko"):
            call()
    assert cg.fetch_quotes(["NOPE"]) == {}
    assert plain_http.calls == []


# ---------------------------------------------------------------------------- the Demo key

def test_demo_key_goes_in_a_header_only(monkeypatch):
    secret = "CG-demo-secret-0123456789"
    monkeypatch.setenv("COINGECKO_API_KEY", secret)
    http = FakeHTTP(reply(SIMPLE_PRICE), reply(MARKETS), reply(OHLC),
                    reply(RATE_LIMIT_429, 429, {"retry-after": "5"}))
    cg = CoinGecko(http)
    cg.fetch_quotes(["BTC", "ETH"])
    cg.fetch_top(3)
    cg.fetch_candles("BTC", "30m", 10)
    with pytest.raises(RateLimited) as err:
        cg.fetch_quote("BTC")
    assert all(call["headers"]["x-cg-demo-api-key"] == secret for call in http.calls)
    assert not http.sent_in_url(secret)
    assert secret not in str(err.value)


def test_no_key_no_header(monkeypatch):
    monkeypatch.delenv("COINGECKO_API_KEY", raising=False)
    http = FakeHTTP(reply(SIMPLE_PRICE))
    CoinGecko(http).fetch_quote("BTC")
    assert "x-cg-demo-api-key" not in http.calls[0]["headers"]
    assert CoinGecko.configured()
