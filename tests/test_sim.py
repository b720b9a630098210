"""The simulator over real HTTP: every provider answers in its own shape, the venues agree,
candles are consistent, unknown symbols / rate limits / faults answer exactly as the reference
says, the /_sim/ control routes work, and `python -m sim` prints its BASE_URL lines.

Uses the session simulator from conftest (seed 7, no latency); the `sim` fixture resets it
around each test, so tests may lower limits and switch faults freely.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests

from sim import Simulator
from sim.market import DAY, HOUR, Market, fear_greed_label

ROOT = Path(__file__).resolve().parents[1]
HTTP = requests.Session()
KEY = {"Authorization": "Bearer test-key"}          # CoinCap v3 wants any non-empty key


def get(sim, provider: str, path: str, **params) -> requests.Response:
    headers = params.pop("headers", None)
    return HTTP.get(sim.base_urls[provider] + path, params=params or None, headers=headers,
                    timeout=10)


def ascending_steps(times: list[int], step: int) -> bool:
    return all(b - a == step for a, b in zip(times, times[1:]))


def consistent(o: float, h: float, l: float, c: float) -> bool:
    return l <= min(o, c) <= max(o, c) <= h and l > 0


# ---------------------------------------------------------------------------- the market

def test_market_is_a_pure_function_of_seed_coin_and_time():
    t = 1_790_000_000.5
    a, b, other = Market(3), Market(3), Market(4)
    assert a.price("BTC", t) == b.price("BTC", t) != other.price("BTC", t)
    assert a.bar("ETH", t - DAY, t) == b.bar("ETH", t - DAY, t)
    assert 40_000 < a.price("BTC", t) < 200_000 and 0.99 < a.price("USDT", t) < 1.01


def test_market_bars_nest_exactly_across_intervals():
    m = Market(7)
    hour = (1_790_000_000 // HOUR) * HOUR
    whole = m.bar("SOL", hour, hour + HOUR)
    minutes = [m.bar("SOL", hour + i * 60, hour + i * 60 + 60) for i in range(60)]
    assert whole.open == minutes[0].open and whole.close == minutes[-1].close
    assert whole.high == max(b.high for b in minutes) and whole.low == min(b.low for b in minutes)
    assert whole.volume == pytest.approx(sum(b.volume for b in minutes), rel=1e-9)
    day = (1_790_000_000 // DAY) * DAY
    hours = [m.bar("SOL", day + i * HOUR, day + (i + 1) * HOUR) for i in range(24)]
    assert m.bar("SOL", day, day + DAY).high == max(b.high for b in hours)
    for b in minutes + hours:
        assert consistent(b.open, b.high, b.low, b.close) and b.volume > 0


def test_fear_greed_bands():
    assert [fear_greed_label(v) for v in (0, 24, 25, 46, 47, 54, 55, 75, 76, 100)] == [
        "Extreme Fear", "Extreme Fear", "Fear", "Fear", "Neutral", "Neutral", "Greed", "Greed",
        "Extreme Greed", "Extreme Greed"]
    m = Market(7)
    assert all(0 <= m.fear_greed(20_000 + d) <= 100 for d in range(60))


# ---------------------------------------------------------------------------- shapes

def test_coingecko_shapes(sim):
    assert get(sim, "COINGECKO", "/api/v3/ping").json() == {"gecko_says": "(V3) To the Moon!"}
    body = get(sim, "COINGECKO", "/api/v3/simple/price", ids="bitcoin,ethereum,nope",
               vs_currencies="usd", include_market_cap="true", include_24hr_vol="true",
               include_24hr_change="true", include_last_updated_at="true").json()
    assert set(body) == {"bitcoin", "ethereum"}
    assert set(body["bitcoin"]) == {"usd", "usd_market_cap", "usd_24h_vol", "usd_24h_change",
                                    "last_updated_at"}
    assert isinstance(body["bitcoin"]["usd"], float) and body["bitcoin"]["usd_market_cap"] > 1e11
    rows = get(sim, "COINGECKO", "/api/v3/coins/markets", vs_currency="usd", per_page=5).json()
    assert [r["market_cap_rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["id"] == "bitcoin" and rows[0]["symbol"] == "btc"
    assert {"current_price", "market_cap", "total_volume", "price_change_percentage_24h",
            "circulating_supply", "ath", "last_updated"} <= set(rows[0])
    caps = [r["market_cap"] for r in rows]
    assert caps == sorted(caps, reverse=True)


@pytest.mark.parametrize("days,step", [("1", 1800), ("7", 4 * HOUR), ("30", 4 * HOUR),
                                       ("90", 4 * DAY)])
def test_coingecko_ohlc_granularity_by_days(sim, days, step):
    rows = get(sim, "COINGECKO", "/api/v3/coins/bitcoin/ohlc", vs_currency="usd",
               days=days).json()
    times = [r[0] for r in rows]
    assert len(rows) >= int(days) * DAY // step and ascending_steps(times, step * 1000)
    assert all(len(r) == 5 and consistent(*r[1:]) for r in rows)
    now = time.time()                                   # stamps are close times; data 30 s old
    assert times[-1] // 1000 - step <= now <= times[-1] // 1000 + 60
    assert get(sim, "COINGECKO", "/api/v3/coins/bitcoin/ohlc", vs_currency="usd",
               days="4").status_code == 400


def test_binance_shapes(sim):
    one = get(sim, "BINANCE", "/api/v3/ticker/price", symbol="BTCUSDT")
    assert one.json()["symbol"] == "BTCUSDT" and one.json()["price"].endswith(
        tuple("0123456789")) and len(one.json()["price"].split(".")[1]) == 8
    assert one.headers["x-mbx-used-weight-1m"] == "2"
    batch = get(sim, "BINANCE", "/api/v3/ticker/24hr",
                symbols=json.dumps(["BTCUSDT", "ETHUSDT"], separators=(",", ":"))).json()
    assert [t["symbol"] for t in batch] == ["BTCUSDT", "ETHUSDT"]
    full = batch[0]
    for key in ("priceChange", "priceChangePercent", "weightedAvgPrice", "lastPrice", "bidPrice",
                "askPrice", "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume"):
        assert isinstance(full[key], str) and float(full[key]) == float(full[key])
    assert isinstance(full["closeTime"], int) and full["closeTime"] - full["openTime"] == DAY * 1000
    assert float(full["bidPrice"]) <= float(full["lastPrice"]) <= float(full["askPrice"])
    rows = get(sim, "BINANCE", "/api/v3/klines", symbol="ETHUSDT", interval="15m",
               limit=20).json()
    assert len(rows) == 20 and all(len(r) == 12 for r in rows)
    assert ascending_steps([r[0] for r in rows], 900_000)
    assert all(r[6] == r[0] + 900_000 - 1 and r[11] == "0" for r in rows)
    assert all(consistent(*map(float, r[1:5])) for r in rows)


def test_coinbase_shapes(sim):
    ticker = get(sim, "COINBASE", "/products/BTC-USD/ticker").json()
    assert {"ask", "bid", "volume", "trade_id", "price", "size", "time"} <= set(ticker)
    assert isinstance(ticker["price"], str) and isinstance(ticker["trade_id"], int)
    stats = get(sim, "COINBASE", "/products/ETH-USD/stats").json()
    assert set(stats) == {"open", "high", "low", "last", "volume", "volume_30day"}
    rows = get(sim, "COINBASE", "/products/BTC-USD/candles", granularity=3600).json()
    assert len(rows) == 300 and all(len(r) == 6 for r in rows)
    times = [r[0] for r in rows]
    assert ascending_steps(times[::-1], 3600)                           # newest first
    assert all(consistent(r[3], r[2], r[1], r[4]) for r in rows)         # [t, low, high, o, c, v]
    assert get(sim, "COINBASE", "/products/BTC-USD/candles",
               granularity=120).status_code == 400


def test_kraken_shapes(sim):
    body = get(sim, "KRAKEN", "/0/public/Ticker", pair="XBTUSD,SOLUSD,XDGUSD,ETHUSD").json()
    assert body["error"] == [] and set(body["result"]) == {"XXBTZUSD", "SOLUSD", "XDGUSD",
                                                           "XETHZUSD"}
    btc = body["result"]["XXBTZUSD"]
    assert set(btc) == {"a", "b", "c", "v", "p", "t", "l", "h", "o"}
    assert isinstance(btc["o"], str) and isinstance(btc["t"][1], int) and len(btc["a"]) == 3
    ohlc = get(sim, "KRAKEN", "/0/public/OHLC", pair="XBTUSD", interval=60).json()["result"]
    rows = ohlc["XXBTZUSD"]
    assert len(rows) == 720 and all(len(r) == 8 for r in rows)
    assert ascending_steps([r[0] for r in rows], 3600) and ohlc["last"] == rows[-2][0]
    for r in rows:
        o, h, l, c, vwap = map(float, r[1:6])
        assert consistent(o, h, l, c) and l <= vwap <= h and isinstance(r[7], int)
    assert get(sim, "KRAKEN", "/0/public/OHLC", pair="XBTUSD", interval=7).json() == {
        "error": ["EGeneral:Invalid arguments"]}


def test_okx_shapes(sim):
    body = get(sim, "OKX", "/api/v5/market/ticker", instId="BTC-USDT").json()
    assert body["code"] == "0" and body["msg"] == "" and len(body["data"]) == 1
    item = body["data"][0]
    assert {"instType", "instId", "last", "open24h", "high24h", "low24h", "volCcy24h", "vol24h",
            "ts", "sodUtc0", "sodUtc8"} <= set(item)
    assert all(isinstance(v, str) for v in item.values())
    spot = get(sim, "OKX", "/api/v5/market/tickers", instType="SPOT").json()["data"]
    listed_here = {t["instId"] for t in spot}
    assert "ETH-USDT" in listed_here and "XMR-USDT" not in listed_here
    rows = get(sim, "OKX", "/api/v5/market/candles", instId="ETH-USDT", bar="1H",
               limit=30).json()["data"]
    assert len(rows) == 30 and all(len(r) == 9 for r in rows)
    assert ascending_steps([int(r[0]) for r in rows][::-1], 3_600_000)
    assert rows[0][8] == "0" and all(r[8] == "1" for r in rows[1:])
    utc_day = get(sim, "OKX", "/api/v5/market/candles", instId="ETH-USDT", bar="1Dutc",
                  limit=2).json()["data"]
    hk_day = get(sim, "OKX", "/api/v5/market/candles", instId="ETH-USDT", bar="1D",
                 limit=2).json()["data"]
    assert int(utc_day[0][0]) // 1000 % DAY == 0 and int(hk_day[0][0]) // 1000 % DAY == 16 * HOUR
    bad = get(sim, "OKX", "/api/v5/market/candles", instId="ETH-USDT", bar="1h")
    assert bad.json()["code"] == "51000"


def test_kucoin_shapes(sim):
    level1 = get(sim, "KUCOIN", "/api/v1/market/orderbook/level1", symbol="BTC-USDT").json()
    assert level1["code"] == "200000" and {"time", "sequence", "price", "bestBid",
                                           "bestAsk"} <= set(level1["data"])
    stats = get(sim, "KUCOIN", "/api/v1/market/stats", symbol="BTC-USDT").json()["data"]
    change = float(stats["changeRate"])
    assert abs(change) < 0.5                                            # a fraction, not percent
    assert change == pytest.approx(float(stats["changePrice"]) / (float(stats["last"])
                                   - float(stats["changePrice"])), abs=1e-4)
    tickers = get(sim, "KUCOIN", "/api/v1/market/allTickers").json()["data"]
    assert isinstance(tickers["time"], int)
    assert "SOL-USDT" in {t["symbol"] for t in tickers["ticker"]}
    rows = get(sim, "KUCOIN", "/api/v1/market/candles", symbol="BTC-USDT",
               type="1hour").json()["data"]
    assert len(rows) == 1500 and all(len(r) == 7 for r in rows)
    assert ascending_steps([int(r[0]) for r in rows][::-1], 3600)      # newest first, seconds
    assert all(consistent(float(r[1]), float(r[3]), float(r[4]), float(r[2])) for r in rows)


def test_bybit_shapes(sim):
    body = get(sim, "BYBIT", "/v5/market/tickers", category="spot", symbol="BTCUSDT").json()
    assert body["retCode"] == 0 and body["retMsg"] == "OK" and body["retExtInfo"] == {}
    item = body["result"]["list"][0]
    fraction = float(item["price24hPcnt"])
    assert fraction == pytest.approx(float(item["lastPrice"]) / float(item["prevPrice24h"]) - 1,
                                     abs=1e-4)
    everything = get(sim, "BYBIT", "/v5/market/tickers", category="spot").json()
    assert len(everything["result"]["list"]) > 30
    rows = get(sim, "BYBIT", "/v5/market/kline", category="spot", symbol="ETHUSDT",
               interval="D", limit=10).json()["result"]["list"]
    assert len(rows) == 10 and all(len(r) == 7 for r in rows)
    assert ascending_steps([int(r[0]) for r in rows][::-1], DAY * 1000)


def test_coinpaprika_shapes(sim):
    rows = get(sim, "COINPAPRIKA", "/v1/tickers").json()
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1)) and len(rows) == 50
    btc = get(sim, "COINPAPRIKA", "/v1/tickers/btc-bitcoin").json()
    assert btc["id"] == "btc-bitcoin" and "circulating_supply" not in btc     # free plan
    usd = btc["quotes"]["USD"]
    assert {"price", "volume_24h", "market_cap", "percent_change_24h", "percent_change_7d",
            "ath_price"} <= set(usd)
    assert isinstance(usd["price"], float)


def test_cryptocompare_shapes(sim):
    assert set(get(sim, "CRYPTOCOMPARE", "/data/price", fsym="BTC", tsyms="USD,EUR").json()) == {
        "USD", "EUR"}
    multi = get(sim, "CRYPTOCOMPARE", "/data/pricemulti", fsyms="BTC,ETH", tsyms="USD").json()
    assert set(multi) == {"BTC", "ETH"} and isinstance(multi["ETH"]["USD"], float)
    full = get(sim, "CRYPTOCOMPARE", "/data/pricemultifull", fsyms="BTC", tsyms="USD").json()
    raw = full["RAW"]["BTC"]["USD"]
    assert {"PRICE", "LASTUPDATE", "VOLUME24HOURTO", "CHANGEPCT24HOUR", "MKTCAP",
            "SUPPLY"} <= set(raw)
    assert full["DISPLAY"]["BTC"]["USD"]["PRICE"].startswith("$ ")
    histo = get(sim, "CRYPTOCOMPARE", "/data/v2/histohour", fsym="ETH", tsym="USD", limit=24,
                aggregate=2).json()
    assert histo["Response"] == "Success" and histo["Data"]["Aggregated"] is True
    rows = histo["Data"]["Data"]
    assert len(rows) == 25 and ascending_steps([r["time"] for r in rows], 2 * HOUR)
    assert histo["Data"]["TimeTo"] == rows[-1]["time"]
    top = get(sim, "CRYPTOCOMPARE", "/data/top/mktcapfull", limit=10, tsym="USD").json()
    assert [d["CoinInfo"]["Name"] for d in top["Data"]][:2] == ["BTC", "ETH"]
    assert "USD" in top["Data"][0]["RAW"]


def test_cryptocompare_news_shape_and_category_filter(sim):
    body = get(sim, "CRYPTOCOMPARE", "/data/v2/news/", lang="EN").json()
    assert body["Type"] == 100 and body["Message"] == "News list successfully returned"
    assert body["Promoted"] == [] and body["HasWarning"] is False and len(body["Data"]) == 50
    item = body["Data"][0]
    assert {"id", "guid", "published_on", "imageurl", "title", "url", "body", "tags", "lang",
            "upvotes", "downvotes", "categories", "source_info", "source"} <= set(item)
    assert set(item["source_info"]) == {"name", "img", "lang"} and item["lang"] == "EN"
    published = [d["published_on"] for d in body["Data"]]
    assert published == sorted(published, reverse=True) and published[0] <= time.time()
    btc = get(sim, "CRYPTOCOMPARE", "/data/v2/news/", lang="EN", categories="BTC").json()["Data"]
    assert btc and all("BTC" in d["categories"].split("|") for d in btc)


def test_coincap_shapes_and_key(sim):
    denied = get(sim, "COINCAP", "/v3/assets/bitcoin")
    assert denied.status_code == 401 and "error" in denied.json()
    asset = get(sim, "COINCAP", "/v3/assets/bitcoin", headers=KEY).json()
    assert isinstance(asset["timestamp"], int)
    data = asset["data"]
    assert data["id"] == "bitcoin" and data["rank"] == "1"
    assert all(isinstance(data[k], str) for k in ("priceUsd", "marketCapUsd", "supply",
                                                   "changePercent24Hr", "volumeUsd24Hr"))
    listing = get(sim, "COINCAP", "/v3/assets", limit=5, headers=KEY).json()["data"]
    assert [a["rank"] for a in listing] == ["1", "2", "3", "4", "5"]
    picked = get(sim, "COINCAP", "/v3/assets", ids="ethereum,solana", headers=KEY).json()["data"]
    assert {a["id"] for a in picked} == {"ethereum", "solana"}
    prices = get(sim, "COINCAP", "/v3/price/bysymbol/ETH%2CBTC", headers=KEY).json()["data"]
    assert len(prices) == 2 and float(prices[1]) > float(prices[0])      # in the order asked


def test_alternative_me_shape(sim):
    resp = get(sim, "ALTERNATIVE_ME", "/fng/", limit=3)
    body = resp.json()
    assert body["name"] == "Fear and Greed Index" and body["metadata"] == {"error": None}
    first, *rest = body["data"]
    assert len(rest) == 2 and "time_until_update" in first
    assert all("time_until_update" not in e for e in rest)
    for entry in body["data"]:
        assert isinstance(entry["value"], str) and isinstance(entry["timestamp"], str)
        assert int(entry["timestamp"]) % DAY == 0
        assert entry["value_classification"] == fear_greed_label(int(entry["value"]))
    assert 0 < int(first["time_until_update"]) <= DAY
    assert resp.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("provider,path", [("COINDESK", "/arc/outboundfeeds/rss/"),
                                           ("COINTELEGRAPH", "/rss"),
                                           ("COINTELEGRAPH", "/rss/tag/ethereum")])
def test_rss_feeds_are_valid_and_recent(sim, provider, path):
    resp = get(sim, provider, path)
    assert resp.status_code == 200 and "xml" in resp.headers["Content-Type"]
    channel = ET.fromstring(resp.content).find("channel")
    items = channel.findall("item")
    assert 20 <= len(items) <= 25
    dates = [parsedate_to_datetime(i.findtext("pubDate")).timestamp() for i in items]
    assert dates == sorted(dates, reverse=True) and time.time() - 7 * DAY < dates[0] <= time.time()
    for item in items:
        assert item.findtext("title") and item.findtext("link").startswith("https://")
        assert item.findtext("guid") and item.findtext("description")
    if path.endswith("ethereum"):
        assert all("Ethereum" in i.findtext("title") or "ETH" in i.findtext("title")
                   for i in items)
    again = get(sim, provider, path)
    assert again.text.split("<item>", 1)[1] == resp.text.split("<item>", 1)[1]  # deterministic


def test_cointelegraph_unknown_tag_is_404(sim):
    assert get(sim, "COINTELEGRAPH", "/rss/tag/not-a-coin").status_code == 404


# ---------------------------------------------------------------------------- agreement

def test_venues_agree_within_one_percent(sim):
    for ticker, names in (("BTC", ("bitcoin", "btc-bitcoin")), ("ETH", ("ethereum",
                                                                        "eth-ethereum"))):
        prices = {
            "coingecko": get(sim, "COINGECKO", "/api/v3/simple/price", ids=names[0],
                             vs_currencies="usd").json()[names[0]]["usd"],
            "binance": float(get(sim, "BINANCE", "/api/v3/ticker/price",
                                 symbol=f"{ticker}USDT").json()["price"]),
            "coinbase": float(get(sim, "COINBASE",
                                  f"/products/{ticker}-USD/ticker").json()["price"]),
            "kraken": float(next(iter(get(sim, "KRAKEN", "/0/public/Ticker",
                                          pair=f"{ticker}USD").json()["result"].values()))["c"][0]),
            "okx": float(get(sim, "OKX", "/api/v5/market/ticker",
                             instId=f"{ticker}-USDT").json()["data"][0]["last"]),
            "kucoin": float(get(sim, "KUCOIN", "/api/v1/market/orderbook/level1",
                                symbol=f"{ticker}-USDT").json()["data"]["price"]),
            "bybit": float(get(sim, "BYBIT", "/v5/market/tickers", category="spot",
                               symbol=f"{ticker}USDT").json()["result"]["list"][0]["lastPrice"]),
            "coinpaprika": get(sim, "COINPAPRIKA", f"/v1/tickers/{names[1]}").json()
            ["quotes"]["USD"]["price"],
            "cryptocompare": get(sim, "CRYPTOCOMPARE", "/data/price", fsym=ticker,
                                 tsyms="USD").json()["USD"],
            "coincap": float(get(sim, "COINCAP", f"/v3/price/bysymbol/{ticker}",
                                 headers=KEY).json()["data"][0]),
        }
        low, high = min(prices.values()), max(prices.values())
        assert high / low < 1.01, prices
        assert len({round(p, 2) for p in prices.values()}) > 3          # not all identical


def test_last_candle_closes_at_the_current_price(sim):
    price = float(get(sim, "BINANCE", "/api/v3/ticker/price", symbol="SOLUSDT").json()["price"])
    rows = get(sim, "BINANCE", "/api/v3/klines", symbol="SOLUSDT", interval="1d", limit=3).json()
    assert float(rows[-1][4]) == pytest.approx(price, rel=1e-3)


@pytest.mark.parametrize("interval,step", [("1m", 60), ("5m", 300), ("4h", 4 * HOUR),
                                           ("1w", 7 * DAY)])
def test_binance_candles_consistent_at_any_interval(sim, interval, step):
    rows = get(sim, "BINANCE", "/api/v3/klines", symbol="BTCUSDT", interval=interval,
               limit=1000).json()
    assert len(rows) == 1000 and ascending_steps([r[0] // 1000 for r in rows], step)
    for prev, row in zip(rows, rows[1:]):
        assert row[1] == prev[4]                                        # open = previous close
    assert all(consistent(*map(float, r[1:5])) and float(r[5]) > 0 for r in rows)


def test_coarse_candle_is_the_merge_of_fine_ones(sim):
    hours = get(sim, "BINANCE", "/api/v3/klines", symbol="ETHUSDT", interval="1h",
                limit=9).json()[:8]
    four = get(sim, "BINANCE", "/api/v3/klines", symbol="ETHUSDT", interval="4h",
               startTime=hours[0][0], limit=2).json()
    block = [h for h in hours if four[0][0] <= h[0] < four[0][0] + 4 * 3_600_000]
    assert len(block) == 4
    assert four[0][1] == block[0][1] and four[0][4] == block[-1][4]
    assert float(four[0][2]) == max(float(h[2]) for h in block)
    assert float(four[0][3]) == min(float(h[3]) for h in block)
    assert float(four[0][5]) == pytest.approx(sum(float(h[5]) for h in block), rel=1e-6)


# ---------------------------------------------------------------------------- unknown symbols

def test_unknown_symbol_answers_like_each_provider(sim):
    def check(provider, path, status, body, **params):
        resp = get(sim, provider, path, **params)
        assert resp.status_code == status, (provider, resp.text)
        got = resp.json()
        if isinstance(body, dict):
            assert {k: got.get(k) for k in body} == body, (provider, got)
        return got

    check("BINANCE", "/api/v3/ticker/24hr", 400, {"code": -1121, "msg": "Invalid symbol."},
          symbol="NOPEUSDT")
    check("BINANCE", "/api/v3/ticker/24hr", 400, {"code": -1121, "msg": "Invalid symbol."},
          symbols='["BTCUSDT","NOPEUSDT"]')
    check("KRAKEN", "/0/public/Ticker", 200, {"error": ["EQuery:Unknown asset pair"]},
          pair="XBTUSD,NOPEUSD")
    assert "result" not in get(sim, "KRAKEN", "/0/public/Ticker", pair="NOPEUSD").json()
    check("OKX", "/api/v5/market/ticker", 200, {"code": "51001", "data": []}, instId="NOPE-USDT")
    check("KUCOIN", "/api/v1/market/orderbook/level1", 200, {"code": "200000", "data": None},
          symbol="NOPE-USDT")
    check("KUCOIN", "/api/v1/market/stats", 200, {"code": "200000", "data": None},
          symbol="NOPE-USDT")
    check("BYBIT", "/v5/market/tickers", 200,
          {"retCode": 10001, "retMsg": "Not supported symbols", "result": {}},
          category="spot", symbol="NOPEUSDT")
    check("COINBASE", "/products/NOPE-USD/ticker", 404, {"message": "NotFound"})
    check("COINPAPRIKA", "/v1/tickers/nope-nope", 404, {"error": "id not found"})
    assert get(sim, "COINGECKO", "/api/v3/simple/price", ids="nope",
               vs_currencies="usd").json() == {}
    check("COINGECKO", "/api/v3/coins/nope/ohlc", 404, {"error": "coin not found"},
          vs_currency="usd", days=1)
    check("CRYPTOCOMPARE", "/data/pricemultifull", 200,
          {"Response": "Error", "Message": "There is no data for the symbol NOPE ."},
          fsyms="NOPE", tsyms="USD")
    check("COINCAP", "/v3/assets/nope", 404, {"error": "nope not found"}, headers=KEY)


# ---------------------------------------------------------------------------- rate limits

LIMITED = [
    # provider, path, params, status, body (subset), headers that must be there
    ("COINGECKO", "/api/v3/ping", {}, 429,
     {"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit. Please "
                 "visit https://www.coingecko.com/en/api/pricing to subscribe to our API plans "
                 "for higher rate limits."}}, ["retry-after"]),
    ("COINBASE", "/products/BTC-USD/stats", {}, 429,
     {"message": "Public rate limit exceeded"}, []),
    ("KRAKEN", "/0/public/Ticker", {"pair": "XBTUSD"}, 200,
     {"error": ["EAPI:Rate limit exceeded"]}, []),
    ("OKX", "/api/v5/market/ticker", {"instId": "BTC-USDT"}, 429,
     {"msg": "Too Many Requests", "code": "50011"}, []),
    ("KUCOIN", "/api/v1/market/orderbook/level1", {"symbol": "BTC-USDT"}, 429,
     {"code": "429000", "msg": "Too Many Requests"},
     ["gw-ratelimit-limit", "gw-ratelimit-remaining", "gw-ratelimit-reset"]),
    ("COINPAPRIKA", "/v1/tickers/btc-bitcoin", {}, 429,
     {"error": "you have reached maximum request limit"}, []),
    ("CRYPTOCOMPARE", "/data/price", {"fsym": "BTC", "tsyms": "USD"}, 200,
     {"Response": "Error", "Message": "You are over your rate limit please upgrade your "
      "account!", "Type": 99, "Data": {}}, []),
    ("COINCAP", "/v3/assets/bitcoin", {"headers": KEY}, 429, {"error": "rate limit exceeded"}, []),
    ("ALTERNATIVE_ME", "/fng/", {}, 429, {"error": "Too Many Requests"}, []),
]


@pytest.mark.parametrize("provider,path,params,status,body,headers", LIMITED,
                         ids=[row[0] for row in LIMITED])
def test_rate_limit_answers_as_documented(sim, provider, path, params, status, body, headers):
    weight = {"KUCOIN": 2}.get(provider, 1)           # level1 costs 2 of KuCoin's weight
    sim.set_rate_limit(provider, 2 * weight, 60)
    for _ in range(2):
        assert get(sim, provider, path, **params).status_code == 200
    resp = get(sim, provider, path, **params)
    got = resp.json()
    assert resp.status_code == status
    assert {k: got.get(k) for k in body} == body, got
    for header in headers:
        assert header in resp.headers
    if "retry-after" in headers:
        assert 1 <= int(resp.headers["retry-after"]) <= 60
    if provider == "CRYPTOCOMPARE":
        assert set(got["RateLimit"]) == {"calls_made", "max_calls"}
    assert sim.stats(provider)["rate_limited"] == 1


def test_binance_weights_429_then_418_ban(sim):
    sim.set_rate_limit("binance", 10, 60)
    codes = [get(sim, "BINANCE", "/api/v3/ticker/24hr", symbol="BTCUSDT") for _ in range(5)]
    assert [r.status_code for r in codes] == [200] * 5
    assert codes[-1].headers["x-mbx-used-weight-1m"] == "10"
    limited = get(sim, "BINANCE", "/api/v3/klines", symbol="BTCUSDT", interval="1m", limit=5)
    assert limited.status_code == 429 and limited.json()["code"] == -1003
    assert limited.json()["msg"].startswith("Too much request weight used; current limit is 10 "
                                            "request weight per 1 MINUTE.")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    answers = [get(sim, "BINANCE", "/api/v3/ping").status_code for _ in range(8)]
    assert 418 in answers and answers[:answers.index(418)] == [429] * answers.index(418)
    banned = get(sim, "BINANCE", "/api/v3/time")
    assert banned.status_code == 418 and "IP banned until" in banned.json()["msg"]
    assert 100 <= int(banned.headers["Retry-After"]) <= 120
    sim.reset()
    assert get(sim, "BINANCE", "/api/v3/time").status_code == 200


def test_binance_batch_weight_counts(sim):
    sim.set_rate_limit("binance", 39, 60)
    symbols = json.dumps([f"{c}USDT" for c in ("BTC", "ETH", "XRP", "BNB", "SOL", "DOGE", "TRX",
                                               "ADA", "LINK", "XLM", "SUI", "BCH", "AVAX",
                                               "HBAR", "LTC", "TON", "SHIB", "DOT", "UNI",
                                               "PEPE", "AAVE")], separators=(",", ":"))
    assert get(sim, "BINANCE", "/api/v3/ticker/24hr", symbols=symbols).status_code == 429  # 40


def test_bybit_403_then_ten_minute_ban(sim):
    sim.set_rate_limit("bybit", 3, 1)
    for _ in range(3):
        ok = get(sim, "BYBIT", "/v5/market/time")
        assert ok.status_code == 200 and {"X-Bapi-Limit-Status", "X-Bapi-Limit",
                                          "X-Bapi-Limit-Reset-Timestamp"} <= set(ok.headers)
    over = get(sim, "BYBIT", "/v5/market/time")
    assert over.status_code == 403 and over.text == "access too frequent"
    time.sleep(1.1)                                     # the window is over, the ban is not
    assert get(sim, "BYBIT", "/v5/market/time").status_code == 403
    assert sim.server("bybit").state()["limit"]["ban"]["seconds"] == 600


def test_rss_rate_limit_is_plain_text(sim):
    sim.set_rate_limit("coindesk", 1, 60)
    get(sim, "COINDESK", "/arc/outboundfeeds/rss/")
    resp = get(sim, "COINDESK", "/arc/outboundfeeds/rss/")
    assert resp.status_code == 429 and resp.headers["Content-Type"].startswith("text/plain")


def test_default_limits_and_reset(sim):
    assert sim.server("coingecko").state()["limit"] == {"kind": "sliding_window", "limit": 30.0,
                                                         "per_seconds": 60.0}
    assert sim.server("kraken").state()["limit"]["kind"] == "token_bucket"
    sim.set_rate_limit("okx", None)
    assert sim.server("okx").state()["limit"] is None
    sim.reset()
    assert sim.server("okx").state()["limit"]["limit"] == 20.0


def test_limits_can_be_disabled():
    with Simulator(limits=False, latency_scale=0.0, seed=1) as quiet:
        assert all(s.state()["limit"] is None for s in quiet.servers.values())
        for _ in range(12):
            assert HTTP.get(quiet.base_urls["COINPAPRIKA"] + "/v1/tickers/btc-bitcoin",
                            timeout=5).status_code == 200


# ---------------------------------------------------------------------------- faults

def test_fault_error500_html_and_malformed(sim):
    sim.set_fault("binance", "error500")
    assert get(sim, "BINANCE", "/api/v3/ticker/price", symbol="BTCUSDT").status_code == 500
    sim.set_fault("binance", "html")
    page = get(sim, "BINANCE", "/api/v3/ticker/price", symbol="BTCUSDT")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    sim.set_fault("binance", "malformed")
    body = get(sim, "BINANCE", "/api/v3/ticker/price", symbol="BTCUSDT").json()
    assert body == {"symbol": "BTCUSDT"}
    sim.set_fault("coingecko", "malformed")
    assert get(sim, "COINGECKO", "/api/v3/simple/price", ids="bitcoin",
               vs_currencies="usd").json() == {"bitcoin": {}}
    sim.set_fault("coindesk", "malformed")
    feed = ET.fromstring(get(sim, "COINDESK", "/arc/outboundfeeds/rss/").content)
    assert all(i.find("title") is None for i in feed.iter("item"))
    assert sim.stats("binance")["faulted"] == 3


def test_fault_timeout_holds_the_answer_until_cleared(sim):
    sim.set_fault("okx", "timeout", seconds=5)
    start = time.perf_counter()
    with pytest.raises(requests.Timeout):
        HTTP.get(sim.base_urls["OKX"] + "/api/v5/market/ticker", params={"instId": "BTC-USDT"},
                 timeout=0.3)
    assert time.perf_counter() - start < 1.0
    sim.clear_faults()
    assert get(sim, "OKX", "/api/v5/market/ticker", instId="BTC-USDT").json()["code"] == "0"


def test_fault_down_closes_the_connection(sim):
    sim.set_fault("coinbase", "down")
    with pytest.raises(requests.ConnectionError):
        get(sim, "COINBASE", "/products/BTC-USD/ticker")
    sim.set_fault("coinbase", None)
    assert get(sim, "COINBASE", "/products/BTC-USD/ticker").status_code == 200


def test_fault_ban_is_each_providers_own_ban(sim):
    sim.set_fault("binance", "ban")
    sim.set_fault("bybit", "ban")
    sim.set_fault("coingecko", "ban", retry_after=300)
    binance = get(sim, "BINANCE", "/api/v3/ping")
    assert binance.status_code == 418 and binance.headers["Retry-After"] == "120"
    assert get(sim, "BYBIT", "/v5/market/time").status_code == 403
    gecko = get(sim, "COINGECKO", "/api/v3/ping")
    assert gecko.status_code == 429 and gecko.headers["retry-after"] == "300"
    assert sim.stats("binance")["rate_limited"] == 1


def test_fault_rate_limit_carries_retry_after(sim):
    sim.set_fault("binance", "rate_limit", retry_after=7)
    resp = get(sim, "BINANCE", "/api/v3/ticker/price", symbol="BTCUSDT")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert resp.json()["code"] == -1003 and "x-mbx-used-weight-1m" in resp.headers
    sim.set_fault("kraken", "rate_limit")
    assert get(sim, "KRAKEN", "/0/public/Time").json() == {"error": ["EAPI:Rate limit exceeded"]}
    sim.set_fault("kucoin", "rate_limit", retry_after=3)
    kucoin = get(sim, "KUCOIN", "/api/v1/market/allTickers")
    assert kucoin.status_code == 429 and kucoin.headers["gw-ratelimit-reset"] == "3000"


def test_fault_wrong_price(sim):
    honest = float(get(sim, "OKX", "/api/v5/market/ticker", instId="BTC-USDT").json()
                   ["data"][0]["last"])
    sim.set_fault("okx", "wrong_price", factor=10)
    wrong = float(get(sim, "OKX", "/api/v5/market/ticker", instId="BTC-USDT").json()
                  ["data"][0]["last"])
    assert wrong == pytest.approx(honest * 10, rel=0.01)
    sim.set_fault("okx", "wrong_price", price=0)
    assert get(sim, "OKX", "/api/v5/market/ticker", instId="BTC-USDT").json()["data"][0][
        "last"] == "0"
    sim.set_fault("coingecko", "wrong_price", factor=-1)
    assert get(sim, "COINGECKO", "/api/v3/simple/price", ids="bitcoin",
               vs_currencies="usd").json()["bitcoin"]["usd"] < 0


def test_fault_probability_zero_never_hits(sim):
    sim.set_fault("kucoin", "error500", probability=0)
    assert get(sim, "KUCOIN", "/api/v1/market/allTickers").status_code == 200
    with pytest.raises(ValueError):
        sim.set_fault("kucoin", "explode")


def test_latency_is_applied(sim):
    sim.set_latency("coinpaprika", 0.25)
    start = time.perf_counter()
    get(sim, "COINPAPRIKA", "/v1/tickers/eth-ethereum")
    assert time.perf_counter() - start >= 0.25


# ---------------------------------------------------------------------------- HTTP control

def test_http_control_routes(sim):
    base = sim.base_urls["KRAKEN"]
    ok = HTTP.post(base + "/_sim/fault", json={"fault": "error500"}, timeout=5)
    assert ok.status_code == 200 and ok.json()["fault"]["kind"] == "error500"
    assert get(sim, "KRAKEN", "/0/public/Time").status_code == 500
    HTTP.post(base + "/_sim/fault", json={"fault": None}, timeout=5)
    assert get(sim, "KRAKEN", "/0/public/Time").status_code == 200
    assert HTTP.post(base + "/_sim/fault", json={"fault": "nope"}, timeout=5).status_code == 400
    HTTP.post(base + "/_sim/limit", json={"requests": 1, "per_seconds": 60}, timeout=5)
    assert get(sim, "KRAKEN", "/0/public/Time").json()["error"] == []
    assert get(sim, "KRAKEN", "/0/public/Time").json() == {"error": ["EAPI:Rate limit exceeded"]}
    stats = HTTP.get(base + "/_sim/stats", timeout=5).json()
    assert stats["provider"] == "kraken" and stats["requests"] == 4      # control not counted
    assert stats["rate_limited"] == 1 and stats["by_path"] == {"/0/public/Time": 4}
    assert HTTP.post(base + "/_sim/reset", timeout=5).json()["ok"] is True
    assert HTTP.get(base + "/_sim/stats", timeout=5).json()["requests"] == 0
    everyone = HTTP.post(base + "/_sim/fault", json={"fault": "html", "all": True}, timeout=5)
    assert len(everyone.json()["providers"]) == 13
    assert get(sim, "OKX", "/api/v5/public/time").headers["Content-Type"].startswith("text/html")
    all_stats = HTTP.get(base + "/_sim/stats", params={"all": 1}, timeout=5).json()
    assert all_stats["okx"]["faulted"] == 1
    HTTP.post(base + "/_sim/reset", json={"all": True}, timeout=5)
    assert get(sim, "OKX", "/api/v5/public/time").json()["code"] == "0"


def test_python_api_surface(sim):
    assert set(sim.base_urls) == {"COINGECKO", "BINANCE", "COINBASE", "KRAKEN", "OKX", "KUCOIN",
                                  "BYBIT", "COINPAPRIKA", "CRYPTOCOMPARE", "COINCAP",
                                  "ALTERNATIVE_ME", "COINDESK", "COINTELEGRAPH"}
    assert all(url.startswith("http://127.0.0.1:") for url in sim.base_urls.values())
    assert len(set(sim.base_urls.values())) == 13
    assert sim.env()["ALTERNATIVE_ME_BASE_URL"] == sim.base_urls["ALTERNATIVE_ME"]
    get(sim, "BINANCE", "/api/v3/ping")
    assert sim.stats()["binance"]["requests"] == 1
    assert sim.stats("alternative.me")["requests"] == 0


# ---------------------------------------------------------------------------- the CLI

def test_cli_prints_base_url_lines_and_serves():
    proc = subprocess.Popen([sys.executable, "-m", "sim", "--latency-scale", "0", "--seed", "3"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(13)]
        urls = dict(line.split("=", 1) for line in lines)
        assert set(urls) == {f"{name}_BASE_URL" for name in (
            "COINGECKO", "BINANCE", "COINBASE", "KRAKEN", "OKX", "KUCOIN", "BYBIT",
            "COINPAPRIKA", "CRYPTOCOMPARE", "COINCAP", "ALTERNATIVE_ME", "COINDESK",
            "COINTELEGRAPH")}
        assert all(u.startswith("http://127.0.0.1:") for u in urls.values())
        ping = HTTP.get(urls["COINGECKO_BASE_URL"] + "/api/v3/ping", timeout=5)
        assert ping.json() == {"gecko_says": "(V3) To the Moon!"}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def okx_btc(sim) -> float:
    return float(get(sim, "OKX", "/api/v5/market/ticker", instId="BTC-USDT").json()
                 ["data"][0]["last"])


def test_fault_skew_quotes_plausible_but_wrong_prices(sim):
    honest = okx_btc(sim)
    sim.set_fault("okx", "skew", pct=5)
    assert okx_btc(sim) == pytest.approx(honest * 1.05, rel=0.002)
    r = requests.post(f"{sim.url('okx')}/_sim/fault", json={"fault": "skew", "pct": -3}, timeout=5)
    assert r.status_code == 200 and r.json()["fault"]["pct"] == -3
    assert okx_btc(sim) == pytest.approx(honest * 0.97, rel=0.002)
    sim.clear_faults("okx")
    assert okx_btc(sim) == pytest.approx(honest, rel=0.002)


def test_usdt_venues_price_in_tether_and_the_depeg_switch_moves_it(sim):
    def kraken(pair: str) -> float:
        result = get(sim, "KRAKEN", "/0/public/Ticker", pair=pair).json()["result"]
        return float(next(iter(result.values()))["c"][0])

    tether = sim.market.price("USDT", time.time())
    assert kraken("USDTUSD") == pytest.approx(tether, rel=0.001)
    assert okx_btc(sim) * tether == pytest.approx(kraken("XBTUSD"), rel=0.001)
    sim.set_depeg(0.97)
    assert kraken("USDTUSD") == pytest.approx(0.97, rel=0.001)
    assert okx_btc(sim) * 0.97 == pytest.approx(kraken("XBTUSD"), rel=0.001)
    cg = get(sim, "COINGECKO", "/api/v3/simple/price", ids="tether", vs_currencies="usd").json()
    assert cg["tether"]["usd"] == pytest.approx(0.97, rel=0.001)
    r = requests.post(f"{sim.url('kraken')}/_sim/depeg", json={"usdt_usd": None, "all": True},
                      timeout=5)
    assert r.status_code == 200 and r.json()["usdt_usd"] is None
    assert kraken("USDTUSD") == pytest.approx(tether, rel=0.001)
    bad = requests.post(f"{sim.url('kraken')}/_sim/depeg", json={"usdt_usd": -1}, timeout=5)
    assert bad.status_code == 400
    sim.set_depeg(0.9)
    sim.reset()
    assert sim.server("okx").usdt_usd is None
