"""Cointelegraph news through its public RSS feeds.

| what          | endpoint             | notes                                              |
|---------------|----------------------|----------------------------------------------------|
| latest news   | GET /rss             | RSS 2.0, all sections                              |
| news on a tag | GET /rss/tag/<tag>   | tag = the coin's name in lower case, e.g. bitcoin  |

A ticker maps to its tag feed, so no filtering is needed; a tag the site does not have answers
404, which the base class turns into UnknownSymbol. No key; the limit is not documented.
"""
from __future__ import annotations

import re

from .base import NewsItem
from .coindesk import RSSProvider, coin_name
from .coins import COINS


def tag_for(ticker: str) -> str:
    """Cointelegraph's tag slug for a coin: its name, lower case, words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", coin_name(ticker).lower()).strip("-")


class Cointelegraph(RSSProvider):
    name = "cointelegraph"
    label = "Cointelegraph"
    env_prefix = "COINTELEGRAPH"
    default_base_url = "https://cointelegraph.com"
    symbols = {c.ticker: tag_for(c.ticker) for c in COINS}
    feed_path = "/rss"

    def fetch_news(self, ticker: str | None, limit: int) -> list[NewsItem]:
        path = self.feed_path if ticker is None else f"{self.feed_path}/tag/{self.pair(ticker)}"
        return self.parse_feed(self.get_text(path))[:max(0, limit)]
