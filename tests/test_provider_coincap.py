"""CoinCap v3: string numbers, rank order, the v2 deprecation body, errors, and the Bearer key."""
from __future__ import annotations

import pytest

from providers.base import (KIND_QUOTE, KIND_QUOTES, KIND_TOP, MalformedResponse, NotConfigured,
                            UnknownSymbol, UpstreamError)
from providers.coincap import CoinCap, check_error, parse_asset_body, parse_assets, parse_top
from tests.fake_upstream import FakeHTTP, reply

SECRET = "coincap-secret-key-42"

# Copied from reference/provider-apis.md §3 (v3 returns v2's field names).
ASSET = {"data": {"id": "bitcoin", "rank": "1", "symbol": "BTC", "name": "Bitcoin",
                  "supply": "17909287.0000000000000000", "maxSupply": "21000000.0000000000000000",
                  "marketCapUsd": "172415433962.2465790154727656",
                  "volumeUsd24Hr": "3144821860.9266363841492533",
                  "priceUsd": "9627.1523239449219288", "changePercent24Hr": "0.2243120489992448",
                  "vwap24Hr": "9628.3630077795475554"},
         "timestamp": 1567333621899}
DEPRECATED = {"data": {"message": "We are deprecating this version of the CoinCap API on March "
                                  "31, 2025. Sign up for our new V3 API at "
                                  "https://pro.coincap.io/dashboard"},
              "timestamp": 1744796832910}
NOT_FOUND = {"error": "asdf not found", "timestamp": 1567334797490}


def asset(slug: str, symbol: str, rank, usd_price) -> dict:
    return dict(ASSET["data"], id=slug, symbol=symbol, name=symbol.title(), rank=rank,
                priceUsd=usd_price)


ASSETS = {"data": [asset("ethereum", "ETH", "2", "2450.1"), asset("tether", "USDT", "10", "1.0"),
                   ASSET["data"], asset("solana", "SOL", 3, "150.2")],   # v3 may send a number
          "timestamp": 1567333621899}


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("COINCAP_API_KEY", SECRET)


def test_parse_asset_strings():
    quote = parse_asset_body(ASSET, "BTC")
    assert quote.price == pytest.approx(9627.1523239449219288)
    assert quote.change_24h_pct == pytest.approx(0.2243120489992448)
    assert quote.volume_24h == pytest.approx(3144821860.9266363841492533)
    assert quote.market_cap == pytest.approx(172415433962.2465790154727656)
    assert quote.timestamp == pytest.approx(1567333621.899)
    assert (quote.symbol, quote.source, quote.quote_currency) == ("BTC", "coincap", "USD")


@pytest.mark.parametrize("usd_price", ["abc", "0", None, "-1"])
def test_parse_asset_bad_price(usd_price):
    with pytest.raises(MalformedResponse):
        parse_asset_body({"data": asset("bitcoin", "BTC", "1", usd_price)}, "BTC")


def test_parse_assets_filters_and_skips_malformed():
    ids = {"BTC": "bitcoin", "ETH": "ethereum", "ADA": "cardano"}
    assert set(parse_assets(ASSETS, ids)) == {"BTC", "ETH"}
    body = {"data": [asset("ethereum", "ETH", "2", "abc"), ASSET["data"]]}
    assert set(parse_assets(body, ids)) == {"BTC"}
    with pytest.raises(MalformedResponse):
        parse_assets({"data": [asset("ethereum", "ETH", "2", "abc")]}, ids)


def test_parse_top_sorts_ranks_numerically():
    top = parse_top(ASSETS, 10)
    assert [(c.rank, c.symbol) for c in top] == [(1, "BTC"), (2, "ETH"), (3, "SOL"), (10, "USDT")]
    assert [c.symbol for c in parse_top(ASSETS, 2)] == ["BTC", "ETH"]


def test_deprecation_body_is_upstream_error():
    with pytest.raises(UpstreamError, match="deprecating this version"):
        check_error(DEPRECATED)
    with pytest.raises(UpstreamError, match="deprecating"):
        parse_top(DEPRECATED, 5)
    check_error(ASSET)                     # a real asset has more than `message`


def test_not_found_body_is_unknown_symbol():
    with pytest.raises(UnknownSymbol, match="asdf not found"):
        check_error(NOT_FOUND)
    with pytest.raises(UpstreamError):
        check_error({"error": "something broke"})


def test_fetch_quote_request_shape(keyed):
    http = FakeHTTP(reply(ASSET))
    quote = CoinCap(http, base_url="http://cc3.test").fetch_quote("btc")
    assert quote.price == pytest.approx(9627.15232394492)
    (call,) = http.calls
    assert call["url"] == "http://cc3.test/v3/assets/bitcoin" and call["kind"] == KIND_QUOTE
    assert call["params"] == {}


def test_fetch_quotes_and_top_request_shape(keyed):
    http = FakeHTTP(reply(ASSETS))
    cap = CoinCap(http, base_url="http://cc3.test")
    assert set(cap.fetch_quotes(["ETH", "BTC", "NOPE"])) == {"BTC", "ETH"}
    assert [c.symbol for c in cap.fetch_top(2)] == ["BTC", "ETH"]
    quotes, top = http.calls
    assert quotes["url"] == "http://cc3.test/v3/assets" and quotes["kind"] == KIND_QUOTES
    assert quotes["params"] == {"ids": "bitcoin,ethereum"}
    assert top["params"] == {"limit": 2} and top["kind"] == KIND_TOP


@pytest.mark.parametrize("response, error", [
    (reply(DEPRECATED), UpstreamError),
    (reply(NOT_FOUND), UnknownSymbol),
    (reply(NOT_FOUND, 404), UnknownSymbol),
    (reply({"error": "Unauthorized"}, 401), NotConfigured),
    (reply({"error": "Forbidden"}, 403), NotConfigured),
    (reply(text="<html>bad gateway</html>"), MalformedResponse),
])
def test_fetch_errors(keyed, response, error):
    http = FakeHTTP(response)
    with pytest.raises(error) as err:
        CoinCap(http).fetch_quote("BTC")
    assert SECRET not in str(err.value)


def test_key_is_required_and_checked_before_any_call(monkeypatch):
    monkeypatch.delenv("COINCAP_API_KEY", raising=False)
    assert CoinCap.requires_key and not CoinCap.configured()
    http = FakeHTTP(reply(ASSET))
    for call in (lambda c: c.fetch_quote("BTC"), lambda c: c.fetch_quotes(["BTC"]),
                 lambda c: c.fetch_top(5)):
        with pytest.raises(NotConfigured, match="COINCAP_API_KEY"):
            call(CoinCap(http))
    assert http.calls == []
    monkeypatch.setenv("COINCAP_API_KEY", SECRET)
    assert CoinCap.configured()


def test_key_goes_in_the_bearer_header_only(keyed):
    http = FakeHTTP(reply(ASSET), reply(ASSETS), reply(ASSETS))
    cap = CoinCap(http)
    cap.fetch_quote("BTC")
    cap.fetch_quotes(["BTC", "ETH"])
    cap.fetch_top(3)
    assert all(c["headers"]["Authorization"] == f"Bearer {SECRET}" for c in http.calls)
    assert not http.sent_in_url(SECRET)


def test_unknown_ticker_makes_no_http_call(keyed, plain_http):
    cap = CoinCap(plain_http, base_url="http://127.0.0.1:9")
    with pytest.raises(UnknownSymbol, match="NOPE is not listed on CoinCap"):
        cap.fetch_quote("NOPE")
    assert cap.fetch_quotes(["NOPE"]) == {}
    assert plain_http.calls == []
    assert not cap.supports("candles")
