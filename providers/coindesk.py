"""CoinDesk news through its public RSS feed, plus the RSS glue every feed provider shares.

| what        | endpoint                      | notes                                           |
|-------------|-------------------------------|-------------------------------------------------|
| latest news | GET /arc/outboundfeeds/rss/   | RSS 2.0, one feed for everything, ~25 items     |

There is no per-coin feed, so a ticker is answered by keeping the entries whose title or summary
names the coin (see `mentions`). No key; the limit is not documented, we stay polite.
"""
from __future__ import annotations

import calendar
import html
import io
import re
from typing import Any, Mapping

import feedparser

from .base import KIND_NEWS, MalformedResponse, NewsItem, Provider, RateLimit
from .coins import BY_TICKER, COINS

SUMMARY_CHARS = 1000        # summaries feed the sentiment model, which takes 2000 at most
TAGS = re.compile(r"<[^>]+>")
SPACES = re.compile(r"\s+")
XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")


def plain_text(value: str | None) -> str:
    """Feed summaries carry HTML (paragraphs, images); keep the words."""
    if not value:
        return ""
    return SPACES.sub(" ", html.unescape(TAGS.sub(" ", value))).strip()


def body_text(resp: Any) -> str:
    """The body as text, decoded the way the feed says.

    requests assumes ISO-8859-1 for text/xml without a charset, which garbles UTF-8 feeds; the
    XML declaration (or UTF-8, XML's default) is the better guide then.
    """
    content = getattr(resp, "content", None)
    ctype = resp.headers.get("Content-Type", "") if hasattr(resp, "headers") else ""
    if isinstance(content, bytes) and "charset=" not in ctype.lower():
        declared = XML_ENCODING.match(content[:200])
        try:
            return content.decode(declared.group(1).decode() if declared else "utf-8",
                                  errors="replace")
        except LookupError:
            return content.decode("utf-8", errors="replace")
    return resp.text or ""


def coin_name(ticker: str) -> str:
    """The coin's plain name for matching and tags: "POL (ex-MATIC)" -> "POL"."""
    return re.sub(r"\s*\(.*?\)", "", BY_TICKER[ticker].name).strip()


def mentions(text: str, ticker: str) -> bool:
    """Whether text names the coin: its name in any case, or its ticker in capitals.

    Tickers must be written as tickers (BTC, $SOL) because many are English words (LINK, NEAR,
    DOT, UNI, OP, SUI); names are matched as whole words in any case.
    """
    name = re.escape(coin_name(ticker))
    if re.search(rf"(?<![A-Za-z0-9]){name}(?![A-Za-z0-9])", text, re.IGNORECASE):
        return True
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(ticker)}(?![A-Za-z0-9])", text) is not None


class RSSProvider(Provider):
    """A news provider whose API is an RSS/Atom feed: fetch the text, parse it with feedparser."""

    capabilities = frozenset({"news"})
    rate_limit = RateLimit(30, 60.0, note="not documented; polite")

    def get_text(self, path: str, params: Mapping[str, Any] | None = None, *,
                 kind: str = KIND_NEWS) -> str:
        """GET base_url+path and return the body text, or raise a typed error for the status."""
        headers = {"User-Agent": self.user_agent,
                   "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                             "text/xml;q=0.8"}
        resp = self.http.get(self.base_url + path, params=params, headers=headers, kind=kind)
        text = body_text(resp)
        self.check_status(resp, text)
        return text

    def parse_feed(self, text: str) -> list[NewsItem]:
        """Feed text -> NewsItems newest first, or MalformedResponse when it is not a feed."""
        head = text.lstrip("\ufeff \t\r\n")[:200].lower()
        if not head:
            raise MalformedResponse(self.name, "empty body where an RSS feed was expected")
        if head.startswith(("<!doctype html", "<html")):
            raise MalformedResponse(self.name, f"expected RSS, got an HTML page: "
                                    f"{text.strip()[:60]!r}")
        # A stream, never the string itself: feedparser would fetch a body that looks like a URL
        # and read one that names a local file.
        feed = feedparser.parse(io.BytesIO(text.encode("utf-8")),
                                response_headers={"content-type": "application/xml; charset=utf-8"})
        if not feed.entries:
            if feed.get("bozo"):
                raise MalformedResponse(self.name, f"not a readable feed: "
                                        f"{feed.get('bozo_exception')}; body {text.strip()[:60]!r}")
            if not feed.get("version"):
                raise MalformedResponse(self.name, f"not an RSS/Atom feed: {text.strip()[:60]!r}")
            return []
        items: dict[str, NewsItem] = {}
        for entry in feed.entries:
            item = self.parse_entry(entry)
            if item is not None and item.url not in items:
                items[item.url] = item
        if not items:
            raise MalformedResponse(self.name, f"none of {len(feed.entries)} feed entries has a "
                                    "title, link and date")
        return sorted(items.values(), key=lambda n: n.published, reverse=True)

    def parse_entry(self, entry: Any) -> NewsItem | None:
        """One entry, or None when it lacks what a news item needs (title, link, date)."""
        title = plain_text(entry.get("title"))
        link = (entry.get("link") or "").strip()
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        if not title or not link or not when:
            return None
        source = entry.get("source")
        publisher = source.get("title") if isinstance(source, Mapping) else None
        return NewsItem(
            title=title,
            url=link,
            source=self.name,
            published=float(calendar.timegm(when)),
            summary=plain_text(entry.get("summary"))[:SUMMARY_CHARS],
            publisher=publisher or self.label,
        )


class CoinDesk(RSSProvider):
    name = "coindesk"
    label = "CoinDesk"
    env_prefix = "COINDESK"
    default_base_url = "https://www.coindesk.com"
    symbols = {c.ticker: coin_name(c.ticker) for c in COINS}
    feed_path = "/arc/outboundfeeds/rss/"

    def fetch_news(self, ticker: str | None, limit: int) -> list[NewsItem]:
        items = self.parse_feed(self.get_text(self.feed_path))
        if ticker is not None:
            ticker = ticker.upper()
            self.pair(ticker)
            items = [n for n in items if mentions(f"{n.title}\n{n.summary}", ticker)]
        return items[:max(0, limit)]
