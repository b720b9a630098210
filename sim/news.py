"""Simulated crypto news: headlines that follow the simulated market, and the two RSS feeds.

Articles sit on a time grid per news desk (one slot every few tens of minutes, published at a
seeded moment inside it), so a feed is a pure function of (seed, desk, now): newest first, recent,
and the same for every client. Each headline names a coin from the universe, and its tone leans
the way that coin really moved over the previous 24 hours (bullish after a rally, bearish after a
drop), so sentiment models have something real to find.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from .limits import SlidingWindow
from . import listings
from .listings import BY_TICKER, UNIVERSE
from .market import DAY, Market
from .server import ProviderApp, Refusal, Request, Response, Route, text_answer
from .wire import iso_s, rfc822

BULLISH = (
    "{name} surges past {level} as ETF inflows jump",
    "{name} rallies {pct}% as traders pile into {ticker} ahead of key data",
    "{name} hits {weeks}-week high as open interest climbs",
    "Whales accumulate {name} as price reclaims {level}",
    "{name} jumps {pct}% after exchange listing news lifts demand",
    "Analysts eye {target} for {ticker} after breakout above {level}",
    "{name} climbs as institutional demand returns to crypto markets",
    "{ticker} bulls take control as {name} gains {pct}% in 24 hours",
    "{name} outperforms the market as on-chain activity hits record",
    "Short squeeze sends {name} above {level}",
)
BEARISH = (
    "{name} slides {pct}% amid liquidations",
    "{name} drops below {level} as risk-off mood grips markets",
    "{ticker} tumbles {pct}% after large holder moves coins to exchanges",
    "Traders brace for more downside as {name} loses {level} support",
    "{name} falls as ETF outflows extend to {days} days",
    "Over ${liq}M in {ticker} longs liquidated as {name} sinks",
    "{name} price slumps {pct}% as funding rates turn negative",
    "{name} hits {weeks}-week low as sellers take over",
    "Hack fears weigh on {name} as {ticker} slips below {level}",
)
NEUTRAL = (
    "SEC delays decision on {name} ETF",
    "{name} trades flat near {level} as volatility hits multi-month low",
    "What's next for {ticker}? Analysts split after a quiet week",
    "{name} developers publish roadmap for next network upgrade",
    "{name} network activity steady as fees hold near lows",
    "Options traders hedge {ticker} exposure ahead of monthly expiry",
    "Exchange reserves of {ticker} unchanged as market waits for the Fed",
    "{name} foundation announces new ecosystem grants program",
    "Regulators weigh new rules that could affect {name} trading",
    "{name} holds range between {low} and {level} as traders wait",
)
STABLE = (
    "{name} issuer mints {bn} billion new {ticker} as stablecoin demand rises",
    "{ticker} supply hits record as traders park funds in stablecoins",
    "{name} briefly slips from its $1 peg on thin liquidity before recovering",
    "Regulators weigh new rules that could affect {name} issuers",
    "{name} reserve report shows full backing, issuer says",
)
CONTEXT = {
    "bullish": ("Derivatives data showed rising open interest and positive funding rates.",
                "Spot volumes climbed across major exchanges as buyers returned.",
                "Analysts pointed to steady inflows and improving market breadth."),
    "bearish": ("Liquidations of leveraged long positions accelerated the move lower.",
                "Exchange inflows rose, a sign that holders may be preparing to sell.",
                "Analysts warned that support levels could be tested again this week."),
    "neutral": ("Trading volumes were roughly in line with their 30-day average.",
                "Market participants are waiting for fresh macroeconomic data.",
                "Analysts said the market lacks a clear catalyst in the short term."),
}
CATEGORY = {"bullish": "Market", "bearish": "Trading", "neutral": "Regulation"}


@dataclass(frozen=True)
class Desk:
    """A newsroom: how often it publishes and whose articles it carries."""
    name: str
    period_s: int
    outlets: tuple[tuple[str, str, str], ...]    # (source key, display name, link pattern)


# Link patterns take {slug}, {date} (yyyy/mm/dd) and {id}.
COINDESK = ("coindesk", "CoinDesk", "https://www.coindesk.com/markets/{date}/{slug}")
COINTELEGRAPH = ("cointelegraph", "CoinTelegraph", "https://cointelegraph.com/news/{slug}")

# Outlets the CryptoCompare aggregator relays.
OUTLETS = (
    COINDESK,
    COINTELEGRAPH,
    ("decrypt", "Decrypt", "https://decrypt.co/{id}/{slug}"),
    ("theblock", "The Block", "https://www.theblock.co/post/{id}/{slug}"),
    ("bitcoinist", "Bitcoinist", "https://bitcoinist.com/{slug}/"),
    ("newsbtc", "NewsBTC", "https://www.newsbtc.com/news/{slug}/"),
    ("cryptopotato", "CryptoPotato", "https://cryptopotato.com/{slug}/"),
)

DESKS = {
    "coindesk": Desk("coindesk", 45 * 60, (COINDESK,)),
    "cointelegraph": Desk("cointelegraph", 30 * 60, (COINTELEGRAPH,)),
    "cryptocompare": Desk("cryptocompare", 12 * 60, OUTLETS),
}

SCAN_SLOTS = 6000              # how far back a filtered request looks for matching articles


def plain_name(ticker: str) -> str:
    """The coin's name as a headline writes it: "POL (ex-MATIC)" -> "POL"."""
    return re.sub(r"\s*\(.*?\)", "", BY_TICKER[ticker].name).strip()


def money(value: float) -> str:
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.3g}"


def round_level(value: float, up: bool) -> float:
    """A round price level just below (or above) a price: 118,285 -> 118,000."""
    if value <= 0:
        return value
    unit = 10 ** (math.floor(math.log10(value)) - 2)
    return (math.ceil(value / unit) if up else math.floor(value / unit)) * unit


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:90].rstrip("-")


@dataclass(frozen=True)
class Article:
    id: int
    published: int
    ticker: str
    tone: str
    title: str
    summary: str
    body: str
    slug: str
    source: str                  # outlet key ("coindesk")
    source_name: str             # outlet display name ("CoinDesk")
    url: str

    @property
    def categories(self) -> str:
        return f"{self.ticker}|{CATEGORY[self.tone]}"

    @property
    def tags(self) -> str:
        return f"{self.ticker}|{plain_name(self.ticker)}|{CATEGORY[self.tone]}"


class Newsroom:
    """Writes every desk's articles from the market; the same slot always gives the same story."""

    _weights = [1.0 / c.rank ** 0.9 for c in UNIVERSE]

    def __init__(self, market: Market, seed: int):
        self.market = market
        self.seed = seed

    def latest(self, desk: str, now: float, count: int, *, ticker: str | None = None,
               only: set[str] | None = None, before: float | None = None) -> list[Article]:
        """The newest `count` articles at `now`, newest first.

        `ticker` gives that coin's own stream (a tag feed); `only` keeps the articles of the
        general stream about those coins; `before` skips articles published at or after it.
        """
        spec = DESKS[desk]
        period = spec.period_s * (4 if ticker else 1)
        slot = math.floor(now / period)
        out: list[Article] = []
        for _ in range(SCAN_SLOTS):
            if len(out) >= count:
                break
            article = self._slot(spec, period, slot, ticker, only, now, before)
            if article is not None:
                out.append(article)
            slot -= 1
        return out

    def _slot(self, desk: Desk, period: int, slot: int, ticker: str | None,
              only: set[str] | None, now: float, before: float | None) -> Article | None:
        rng = random.Random(f"{self.seed}|news|{desk.name}|{ticker or '*'}|{slot}")
        published = int(slot * period + rng.uniform(0.0, 0.9) * period)
        if published > now or (before is not None and published >= before):
            return None
        coin = ticker or rng.choices(UNIVERSE, weights=self._weights)[0].ticker
        if only is not None and coin not in only:
            return None
        return self._write(rng, desk, slot, published, coin)

    def _write(self, rng: random.Random, desk: Desk, slot: int, published: int,
               ticker: str) -> Article:
        price = self.market.price(ticker, published)
        change = self.market.change_pct(ticker, published, DAY)
        lean = max(-0.6, min(0.6, change / 6.0))
        tone = rng.choices(("bullish", "neutral", "bearish"),
                           weights=(0.3 + lean, 0.4, 0.3 - lean))[0]
        if self.market.economics(ticker).market_beta == 0:
            tone, bank = "neutral", STABLE
        else:
            bank = {"bullish": BULLISH, "bearish": BEARISH, "neutral": NEUTRAL}[tone]
        template = rng.choice(bank)
        moved = abs(change) if (change > 0) == (tone == "bullish") and abs(change) >= 1 \
            else rng.uniform(2.0, 8.0)
        name = plain_name(ticker)
        title = template.format(
            name=name, ticker=ticker, pct=f"{moved:.1f}".rstrip("0").rstrip("."),
            level=money(round_level(price, up=tone == "bearish")),
            low=money(round_level(price * 0.94, up=False)),
            target=money(round_level(price * rng.uniform(1.15, 1.4), up=False)),
            weeks=rng.randint(2, 12), days=rng.randint(2, 9), liq=rng.randint(40, 900),
            bn=rng.randint(1, 3))
        direction = "up" if change >= 0 else "down"
        summary = (f"{name} ({ticker}) was trading at {money(price)} at press time, {direction} "
                   f"{abs(change):.1f}% over the past 24 hours. {rng.choice(CONTEXT[tone])}")
        body = " ".join([summary, rng.choice(CONTEXT[tone]),
                         "This article is simulated market news generated for testing."])
        slug = slugify(title)
        article_id = 40_000_000 + slot
        date = iso_s(published)[:10].replace("-", "/")
        source, source_name, link = rng.choice(desk.outlets)
        url = link.format(slug=slug, date=date, id=article_id)
        return Article(article_id, published, ticker, tone, title, summary, body, slug, source,
                       source_name, url)


# ---------------------------------------------------------------------------- RSS feeds

def rss_document(title: str, link: str, description: str, self_url: str,
                 articles: list[Article], now: float) -> str:
    """An RSS 2.0 document, items newest first."""
    items = []
    for article in articles:
        parts = ["    <item>",
                 f"      <title>{escape(article.title)}</title>",
                 f"      <link>{escape(article.url)}</link>",
                 f'      <guid isPermaLink="false">{article.id}</guid>',
                 f"      <pubDate>{rfc822(article.published)}</pubDate>"]
        parts += [f"      <description><![CDATA[<p>{escape(article.summary)}</p>]]></description>",
                  f"      <category>{escape(plain_name(article.ticker))}</category>",
                  f"      <category>{CATEGORY[article.tone]}</category>",
                  f"      <dc:creator>{escape(article.source_name)} Staff</dc:creator>",
                  "    </item>"]
        items.append("\n".join(parts))
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom">',
        "  <channel>",
        f"    <title>{escape(title)}</title>",
        f"    <link>{escape(link)}</link>",
        f"    <description>{escape(description)}</description>",
        "    <language>en</language>",
        f"    <lastBuildDate>{rfc822(now)}</lastBuildDate>",
        f'    <atom:link href="{escape(self_url)}" rel="self" type="application/rss+xml"/>',
        *items,
        "  </channel>",
        "</rss>",
        ""])


class RSSFeed(ProviderApp):
    """A news site's RSS feed: 60 requests a minute, a plain-text 429 beyond."""
    latency = 0.18
    server_header = "cloudflare"
    desk: str
    title: str
    site: str
    description: str
    items = 20

    def __init__(self, market: Market, **context):
        super().__init__(market, **context)
        self.newsroom: Newsroom = context["newsroom"]

    def default_limit(self):
        return SlidingWindow(60, 60), None

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        return text_answer("Too Many Requests", 429, rate_limited=True)

    def not_found(self, req: Request) -> Response:
        return text_answer("<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
                           "<body><h1>Page not found</h1></body></html>", 404, "text/html")

    def feed(self, req: Request, articles: list[Article], self_path: str) -> Response:
        text = rss_document(self.title, self.site, self.description, self.site + self_path,
                            articles, req.now)
        return text_answer(text, 200, "application/rss+xml; charset=utf-8")

    def malform(self, resp: Response) -> Response:
        """Items without title, link or date: still XML, useless as news."""
        if resp.text:
            head, first_item, rest = resp.text.partition("<item>")
            resp.text = head + first_item + re.sub(r"\s*<(title|link|pubDate)>.*?</\1>", "", rest)
        return resp


class CoinDeskFeed(RSSFeed):
    name = "coindesk"
    env_name = "COINDESK"
    desk = "coindesk"
    title = "CoinDesk: Bitcoin, Ethereum, Crypto News and Price Data"
    site = "https://www.coindesk.com"
    description = "CoinDesk provides news and analysis on the crypto economy (simulated)."
    items = 25

    def routes(self) -> list[Route]:
        return [Route("GET", "/arc/outboundfeeds/rss/", self.latest),
                Route("GET", "/arc/outboundfeeds/rss", self.latest)]

    def latest(self, req: Request) -> Response:
        articles = self.newsroom.latest(self.desk, req.now, self.items)
        return self.feed(req, articles, "/arc/outboundfeeds/rss/")


class CointelegraphFeed(RSSFeed):
    name = "cointelegraph"
    env_name = "COINTELEGRAPH"
    desk = "cointelegraph"
    title = "Cointelegraph.com News"
    site = "https://cointelegraph.com"
    description = "Cointelegraph covers fintech, blockchain and Bitcoin (simulated)."
    tags = listings.COINTELEGRAPH       # tag -> ticker

    def routes(self) -> list[Route]:
        return [Route("GET", "/rss", self.latest), Route("GET", "/rss/", self.latest),
                Route("GET", "/rss/tag/{tag}", self.tag)]

    def latest(self, req: Request) -> Response:
        return self.feed(req, self.newsroom.latest(self.desk, req.now, self.items), "/rss")

    def tag(self, req: Request) -> Response:
        tag = req.path_params["tag"].lower()
        ticker = self.tags.get(tag)
        if ticker is None:
            return self.not_found(req)
        articles = self.newsroom.latest(self.desk, req.now, self.items, ticker=ticker)
        return self.feed(req, articles, f"/rss/tag/{tag}")


FEEDS: tuple[type[ProviderApp], ...] = (CoinDeskFeed, CointelegraphFeed)
