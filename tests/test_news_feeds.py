"""CoinDesk and Cointelegraph RSS providers: parsing on fixed feed text, then over HTTP against sim/."""
from __future__ import annotations

import calendar
import time

import pytest

from providers import provider_class
from providers.base import (KIND_NEWS, MalformedResponse, NewsItem, RateLimited, UnknownSymbol,
                            UpstreamError)
from providers.coindesk import CoinDesk, mentions
from providers.cointelegraph import Cointelegraph, tag_for
from tests.fake_upstream import FakeHTTP, FakeResponse


def epoch(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S")))


COINDESK_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:media="http://search.yahoo.com/mrss/">
<channel>
  <title>CoinDesk: Bitcoin, Ethereum, Crypto News and Price Data</title>
  <link>https://www.coindesk.com</link>
  <item>
    <title><![CDATA[Ether Slides 5% as ETF Outflows Continue]]></title>
    <link>https://www.coindesk.com/markets/2025/06/10/ether-slides</link>
    <guid isPermaLink="false">a1</guid>
    <pubDate>Tue, 10 Jun 2025 12:00:00 +0000</pubDate>
    <description><![CDATA[<p>ETH fell below $2,500 &amp; traders cut risk.</p>]]></description>
    <dc:creator><![CDATA[Jane Doe]]></dc:creator>
  </item>
  <item>
    <title>Bitcoin Hits Record as Funds Pile In</title>
    <link>https://www.coindesk.com/markets/2025/06/10/bitcoin-record</link>
    <pubDate>Tue, 10 Jun 2025 10:00:00 -0400</pubDate>
    <description>BTC traded above $110,000 on Tuesday.</description>
  </item>
  <item>
    <title>Markets Brace for Near-Term Volatility</title>
    <link>https://www.coindesk.com/markets/2025/06/09/near-term</link>
    <pubDate>Mon, 09 Jun 2025 08:30:00 GMT</pubDate>
    <description>Options desks link the move to macro data; $SOL and DOT held up.</description>
  </item>
  <item>
    <title>Bitcoin Hits Record as Funds Pile In</title>
    <link>https://www.coindesk.com/markets/2025/06/10/bitcoin-record</link>
    <pubDate>Tue, 10 Jun 2025 10:00:00 -0400</pubDate>
    <description>Duplicate of the second item.</description>
  </item>
  <item>
    <title>An item without a date cannot be ordered</title>
    <link>https://www.coindesk.com/undated</link>
  </item>
</channel>
</rss>
"""

COINTELEGRAPH_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Cointelegraph.com News</title>
  <item>
    <title>Bitcoin miners sell as hashprice drops</title>
    <link>https://cointelegraph.com/news/bitcoin-miners-sell</link>
    <pubDate>Wed, 11 Jun 2025 09:15:00 +0100</pubDate>
    <dc:creator>Cointelegraph by Someone</dc:creator>
    <description><![CDATA[<p style="float:right"><img src="https://images.example/x.jpg"></p>
      <p>Miners moved 5,000 BTC to exchanges.</p>]]></description>
  </item>
  <item>
    <title>Bitcoin ETF flows turn positive</title>
    <link>https://cointelegraph.com/news/bitcoin-etf-flows</link>
    <pubDate>Wed, 11 Jun 2025 11:00:00 +0100</pubDate>
    <description>Inflows returned.</description>
  </item>
</channel>
</rss>
"""

EMPTY_RSS = ('<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
             '</channel></rss>')
HTML_PAGE = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
             "<body>Checking your browser</body></html>")


RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}


class RawResponse(FakeResponse):
    """A response that also carries the raw bytes, as requests' `content` does."""

    def __init__(self, content: bytes, text: str, headers: dict):
        super().__init__(200, text, headers)
        self.content = content


def coindesk(text: str = COINDESK_RSS, status: int = 200,
             headers: dict | None = None) -> tuple[CoinDesk, FakeHTTP]:
    http = FakeHTTP(FakeResponse(status, text, RSS_TYPE if headers is None else headers))
    return CoinDesk(http), http


def cointelegraph(text: str = COINTELEGRAPH_RSS, status: int = 200,
                  headers: dict | None = None) -> tuple[Cointelegraph, FakeHTTP]:
    http = FakeHTTP(FakeResponse(status, text, RSS_TYPE if headers is None else headers))
    return Cointelegraph(http), http


# ---------------------------------------------------------------------------- declarations

@pytest.mark.parametrize("name, cls, prefix, origin", [
    ("coindesk", CoinDesk, "COINDESK", "https://www.coindesk.com"),
    ("cointelegraph", Cointelegraph, "COINTELEGRAPH", "https://cointelegraph.com"),
])
def test_declared_like_every_provider(name, cls, prefix, origin, monkeypatch):
    assert provider_class(name) is cls
    assert cls.name == name and cls.env_prefix == prefix and cls.default_base_url == origin
    assert cls.capabilities == frozenset({"news"})
    assert (cls.rate_limit.requests, cls.rate_limit.per_seconds) == (30, 60.0)
    assert "not documented" in cls.rate_limit.note
    monkeypatch.delenv(f"{prefix}_BASE_URL", raising=False)
    assert cls(FakeHTTP(FakeResponse())).base_url == origin
    monkeypatch.setenv(f"{prefix}_BASE_URL", "http://127.0.0.1:9999/")
    assert cls(FakeHTTP(FakeResponse())).base_url == "http://127.0.0.1:9999"


# ---------------------------------------------------------------------------- CoinDesk

def test_coindesk_parses_the_feed_newest_first():
    provider, http = coindesk()
    items = provider.fetch_news(None, 10)
    assert http.calls[0]["url"] == "https://www.coindesk.com/arc/outboundfeeds/rss/"
    assert http.calls[0]["kind"] == KIND_NEWS
    assert "rss" in http.calls[0]["headers"]["Accept"]
    assert all(isinstance(n, NewsItem) for n in items)
    # the duplicate link and the undated item are dropped; 10:00 -0400 is 14:00 UTC
    assert [n.published for n in items] == [epoch("2025-06-10 14:00:00"),
                                            epoch("2025-06-10 12:00:00"),
                                            epoch("2025-06-09 08:30:00")]
    first, second = items[0], items[1]
    assert first.title == "Bitcoin Hits Record as Funds Pile In"
    assert first.url == "https://www.coindesk.com/markets/2025/06/10/bitcoin-record"
    assert (first.source, first.publisher) == ("coindesk", "CoinDesk")
    assert second.summary == "ETH fell below $2,500 & traders cut risk."   # HTML and entities gone


def test_coindesk_respects_the_limit():
    provider, _ = coindesk()
    assert len(provider.fetch_news(None, 2)) == 2
    assert provider.fetch_news(None, 0) == []


@pytest.mark.parametrize("ticker, titles", [
    ("BTC", ["Bitcoin Hits Record as Funds Pile In"]),
    ("eth", ["Ether Slides 5% as ETF Outflows Continue"]),     # ticker in the summary
    ("SOL", ["Markets Brace for Near-Term Volatility"]),       # written $SOL
    ("NEAR", []),                                              # "Near-Term" is not the coin
    ("LINK", []),                                              # "link" is not the coin
    ("XRP", []),
])
def test_coindesk_filters_by_coin_for_a_ticker(ticker, titles):
    provider, _ = coindesk()
    assert [n.title for n in provider.fetch_news(ticker, 10)] == titles


def test_coindesk_refuses_an_unknown_ticker():
    provider, http = coindesk()
    with pytest.raises(UnknownSymbol):
        provider.fetch_news("NOSUCHCOIN", 10)


def test_mentions_matches_names_in_any_case_and_tickers_as_written():
    assert mentions("why bitcoin fell", "BTC")
    assert mentions("BTC fell", "BTC")
    assert not mentions("btc fell", "LINK")
    assert not mentions("the link between rates and risk", "LINK")
    assert mentions("Chainlink oracles", "LINK")
    assert mentions("Bitcoin Cash forks again", "BCH")
    assert mentions("POL rallies after the migration", "POL")
    assert not mentions("BTCUSD", "BTC")       # part of a pair symbol, not a word


# ---------------------------------------------------------------------------- Cointelegraph

def test_cointelegraph_main_feed():
    provider, http = cointelegraph()
    items = provider.fetch_news(None, 10)
    assert http.calls[0]["url"] == "https://cointelegraph.com/rss"
    assert [n.title for n in items] == ["Bitcoin ETF flows turn positive",
                                        "Bitcoin miners sell as hashprice drops"]
    assert items[0].published == epoch("2025-06-11 10:00:00")
    assert items[1].summary == "Miners moved 5,000 BTC to exchanges."
    assert {n.source for n in items} == {"cointelegraph"}


@pytest.mark.parametrize("ticker, path", [
    ("BTC", "/rss/tag/bitcoin"),
    ("eth", "/rss/tag/ethereum"),
    ("BCH", "/rss/tag/bitcoin-cash"),
    ("POL", "/rss/tag/pol"),
])
def test_cointelegraph_uses_the_tag_feed_for_a_ticker(ticker, path):
    provider, http = cointelegraph()
    assert len(provider.fetch_news(ticker, 1)) == 1
    assert http.calls[0]["url"] == "https://cointelegraph.com" + path


def test_tag_slugs():
    assert tag_for("BTC") == "bitcoin"
    assert tag_for("NEAR") == "near-protocol"


def test_cointelegraph_unknown_tag_is_unknown_symbol():
    provider, _ = cointelegraph(HTML_PAGE, status=404, headers={"Content-Type": "text/html"})
    with pytest.raises(UnknownSymbol):
        provider.fetch_news("BTC", 5)


# ---------------------------------------------------------------------------- bad bodies

@pytest.mark.parametrize("body", [
    HTML_PAGE,
    "\ufeff  <html><body>maintenance</body></html>",
    '{"error": "not a feed"}',
    "",
    "<rss version='2.0'><channel><item><title>cut off",       # bozo, no complete entry
    "<note><to>someone</to></note>",                           # XML, but not a feed
    "http://127.0.0.1:9/feed.xml",                             # a URL is text, not fetched
])
@pytest.mark.parametrize("make", [coindesk, cointelegraph])
def test_not_a_feed_is_malformed(make, body):
    provider, _ = make(body)
    with pytest.raises(MalformedResponse):
        provider.fetch_news(None, 10)


def test_a_body_naming_a_local_feed_file_is_not_read(tmp_path):
    feed_file = tmp_path / "feed.xml"
    feed_file.write_text(COINDESK_RSS, encoding="utf-8")
    provider, _ = coindesk(str(feed_file))
    with pytest.raises(MalformedResponse):
        provider.fetch_news(None, 10)


def test_entries_without_title_link_or_date_are_malformed():
    body = ("<rss version='2.0'><channel><item><title>no link, no date</title></item>"
            "</channel></rss>")
    provider, _ = coindesk(body)
    with pytest.raises(MalformedResponse, match="title, link and date"):
        provider.fetch_news(None, 10)


def test_a_valid_empty_feed_is_an_empty_list():
    provider, _ = coindesk(EMPTY_RSS)
    assert provider.fetch_news(None, 10) == []


def test_a_truncated_feed_keeps_its_complete_entries():
    provider, _ = coindesk(COINDESK_RSS[:COINDESK_RSS.index("<item>\n    <title>Markets")])
    assert len(provider.fetch_news(None, 10)) == 2


def test_utf8_feed_without_a_charset_header_is_decoded_as_utf8():
    body = COINDESK_RSS.replace("Bitcoin Hits Record", "Bitcoin’s Record Run")
    raw = body.encode("utf-8")
    # what requests would make of it: text/xml without charset is read as ISO-8859-1
    http = FakeHTTP(RawResponse(raw, raw.decode("latin-1"), {"Content-Type": "text/xml"}))
    provider = CoinDesk(http)
    assert provider.fetch_news("BTC", 1)[0].title == "Bitcoin’s Record Run as Funds Pile In"


@pytest.mark.parametrize("status, headers, error", [
    (429, {"Retry-After": "30"}, RateLimited),
    (503, {}, UpstreamError),
])
def test_http_errors_are_typed(status, headers, error):
    provider, _ = coindesk("Service unavailable", status=status, headers=headers)
    with pytest.raises(error) as err:
        provider.fetch_news(None, 10)
    assert err.value.status == status
    if error is RateLimited:
        assert err.value.retry_after == 30.0


# ---------------------------------------------------------------------------- over HTTP (sim/)

def assert_news(items: list[NewsItem], source: str, limit: int) -> None:
    assert 1 <= len(items) <= limit
    assert all(isinstance(n, NewsItem) and n.source == source for n in items)
    assert all(n.title and n.url.startswith("http") and n.published > 0 for n in items)
    assert [n.published for n in items] == sorted((n.published for n in items), reverse=True)


def test_coindesk_over_http(sim, plain_http):
    items = CoinDesk(plain_http).fetch_news(None, 10)
    assert_news(items, "coindesk", 10)
    assert plain_http.calls[0][0].endswith("/arc/outboundfeeds/rss/")


def test_coindesk_ticker_over_http(sim, plain_http):
    items = CoinDesk(plain_http).fetch_news("BTC", 10)
    assert all(mentions(f"{n.title}\n{n.summary}", "BTC") for n in items)


def test_cointelegraph_over_http(sim, plain_http):
    provider = Cointelegraph(plain_http)
    assert_news(provider.fetch_news(None, 10), "cointelegraph", 10)
    assert_news(provider.fetch_news("BTC", 5), "cointelegraph", 5)
    assert [url.split("//", 1)[1].split("/", 1)[1] for url, _ in plain_http.calls] == [
        "rss", "rss/tag/bitcoin"]
