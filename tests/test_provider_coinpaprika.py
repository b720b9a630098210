"""CoinPaprika: the reference's ticker body, top by rank, 402/404/429 and symbol rules."""
from __future__ import annotations

import copy

import pytest

from providers.base import (KIND_QUOTE, KIND_QUOTES, KIND_TOP, MalformedResponse, NotConfigured,
                            RateLimited, UnknownSymbol, Unsupported)
from providers.coinpaprika import CoinPaprika, parse_ticker, parse_tickers, parse_top
from tests.fake_upstream import FakeHTTP, reply

# Copied from reference/provider-apis.md §4.
BTC = {"id": "btc-bitcoin", "name": "Bitcoin", "symbol": "BTC", "rank": 1,
       "total_supply": 19883231, "max_supply": 21000000, "beta_value": 0.879448,
       "first_data_at": "2010-07-17T00:00:00Z", "last_updated": "2025-06-25T10:47:48Z",
       "quotes": {"USD": {"price": 107077.69661924685, "volume_24h": 23175936198.924427,
                          "volume_24h_change_24h": -44.15, "market_cap": 2129051326372,
                          "market_cap_change_24h": 1.74, "percent_change_15m": 0.04,
                          "percent_change_30m": 0.08, "percent_change_1h": 0.1,
                          "percent_change_6h": 0.3, "percent_change_12h": 0.13,
                          "percent_change_24h": -0.26, "percent_change_7d": -2.68,
                          "percent_change_30d": -7.16, "percent_change_1y": 40.5,
                          "ath_price": 111970.17, "ath_date": "2025-05-22T18:41:00Z",
                          "percent_from_price_ath": -4.37}}}
BTC_UPDATED = 1750848468   # 2025-06-25T10:47:48Z


def ticker(coin_id: str, symbol: str, name: str, rank: int, usd_price) -> dict:
    item = copy.deepcopy(BTC)
    item.update(id=coin_id, symbol=symbol, name=name, rank=rank)
    item["quotes"]["USD"]["price"] = usd_price
    return item


ETH = ticker("eth-ethereum", "ETH", "Ethereum", 2, 2450.5)
SOL = ticker("sol-solana", "SOL", "Solana", 6, 145.2)
USDT = ticker("usdt-tether", "USDT", "Tether", 3, 1.0)
UNRANKED = ticker("xyz-new-coin", "XYZ", "New", 0, 0.5)
TICKERS = [SOL, UNRANKED, ETH, USDT, BTC]      # deliberately not in rank order


def test_parse_ticker():
    quote = parse_ticker(BTC, "BTC")
    assert quote.price == pytest.approx(107077.69661924685)
    assert quote.change_24h_pct == pytest.approx(-0.26)
    assert quote.volume_24h == pytest.approx(23175936198.924427)
    assert quote.market_cap == 2129051326372
    assert quote.timestamp == BTC_UPDATED
    assert (quote.symbol, quote.source, quote.quote_currency) == ("BTC", "coinpaprika", "USD")
    assert parse_ticker(BTC).symbol == "BTC"


@pytest.mark.parametrize("usd_price", ["abc", 0, None, -1])
def test_parse_ticker_bad_price(usd_price):
    with pytest.raises(MalformedResponse):
        parse_ticker(ticker("btc-bitcoin", "BTC", "Bitcoin", 1, usd_price))


def test_parse_ticker_without_usd_quote():
    with pytest.raises(MalformedResponse):
        parse_ticker({"id": "btc-bitcoin", "symbol": "BTC", "quotes": {}})


def test_parse_tickers_filters_and_skips_malformed():
    ids = {"BTC": "btc-bitcoin", "ETH": "eth-ethereum", "ADA": "ada-cardano"}
    quotes = parse_tickers(TICKERS, ids)
    assert set(quotes) == {"BTC", "ETH"}                         # ADA absent: left out
    broken = ticker("eth-ethereum", "ETH", "Ethereum", 2, "abc")
    assert set(parse_tickers([broken, BTC], ids)) == {"BTC"}
    with pytest.raises(MalformedResponse):
        parse_tickers([broken], ids)
    with pytest.raises(MalformedResponse):
        parse_tickers({"error": "x"}, ids)


def test_parse_top_sorts_by_rank_and_drops_unranked():
    top = parse_top(TICKERS, 10)
    assert [(c.rank, c.symbol) for c in top] == [(1, "BTC"), (2, "ETH"), (3, "USDT"), (6, "SOL")]
    assert top[1].name == "Ethereum" and top[0].market_cap == 2129051326372
    assert [c.symbol for c in parse_top(TICKERS, 2)] == ["BTC", "ETH"]


def test_parse_top_skips_malformed():
    broken = ticker("eth-ethereum", "ETH", "Ethereum", 2, 0)
    assert [c.symbol for c in parse_top([broken, BTC], 2)] == ["BTC"]
    with pytest.raises(MalformedResponse):
        parse_top([broken], 2)


def test_fetch_quote_request_shape():
    http = FakeHTTP(reply(BTC))
    quote = CoinPaprika(http, base_url="http://cp.test").fetch_quote("btc")
    assert quote.symbol == "BTC" and quote.price == pytest.approx(107077.69661924685)
    assert http.calls == [{"url": "http://cp.test/v1/tickers/btc-bitcoin", "params": {},
                           "headers": http.calls[0]["headers"], "kind": KIND_QUOTE,
                           "weight": 1}]


def test_fetch_quotes_and_top_use_the_tickers_list():
    http = FakeHTTP(reply(TICKERS))
    cp = CoinPaprika(http, base_url="http://cp.test")
    assert set(cp.fetch_quotes(["BTC", "sol", "NOPE"])) == {"BTC", "SOL"}
    assert [c.rank for c in cp.fetch_top(3)] == [1, 2, 3]
    assert [(c["url"], c["kind"]) for c in http.calls] == [
        ("http://cp.test/v1/tickers", KIND_QUOTES), ("http://cp.test/v1/tickers", KIND_TOP)]


def test_404_id_not_found():
    with pytest.raises(UnknownSymbol, match="id not found"):
        CoinPaprika(FakeHTTP(reply({"error": "id not found"}, 404))).fetch_quote("BTC")


def test_429_rate_limited():
    body = {"error": "you have reached maximum request limit"}
    with pytest.raises(RateLimited, match="maximum request limit") as err:
        CoinPaprika(FakeHTTP(reply(body, 429))).fetch_top(10)
    assert err.value.retry_after is None          # no header: routing's cooldown applies


def test_402_plan_too_low_is_not_configured():
    body = {"error": "Your current plan does not allow this request"}
    with pytest.raises(NotConfigured):
        CoinPaprika(FakeHTTP(reply(body, 402))).fetch_quote("BTC")


def test_html_under_200_is_malformed():
    with pytest.raises(MalformedResponse):
        CoinPaprika(FakeHTTP(reply(text="<html><body>maintenance</body></html>"))).fetch_top(5)


def test_unknown_ticker_makes_no_http_call(plain_http):
    cp = CoinPaprika(plain_http, base_url="http://127.0.0.1:9")
    with pytest.raises(UnknownSymbol, match="NOPE is not listed on CoinPaprika"):
        cp.fetch_quote("NOPE")
    assert cp.fetch_quotes(["NOPE"]) == {}
    assert plain_http.calls == []


def test_no_candles(plain_http):
    cp = CoinPaprika(plain_http)
    assert not cp.supports("candles")
    with pytest.raises(Unsupported):
        cp.fetch_candles("BTC", "1d", 10)
    assert plain_http.calls == []
