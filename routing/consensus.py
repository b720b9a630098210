"""One price per coin out of many venues' quotes: pure functions, no I/O, no clock.

The recipe (the anchors' rules, assembled; see the README's router section):

- a quote counts while it is young enough: 60 s for an exchange, 120 s for an aggregator;
- USDT-quoted prices become USD at the live USDT/USD rate from the book, never at 1.0;
- aggregators (CoinGecko, CoinPaprika, CryptoCompare, CoinCap) repackage exchange prices, so
  together they cast one vote (their median);
- a vote or a quote farther than max(3 x 1.4826 x MAD, 25 bps x median) from the votes' median
  is an outlier and left out (the plain median: a heavy venue must not drag the band its way);
- the price is the weighted median of the votes left: 24 h volume where venues report it, no
  venue over half the weight;
- confidence as Pyth computes it: every used vote casts price - c, price, price + c, and the
  confidence is max(p50 - p25, p75 - p50) over those votes;
- status by the votes used: ok (3 or more), degraded (2), single_source (1), stale (none young
  enough: the last known quotes, said so); no_usd_rate when the only young quotes are in USDT
  and the book holds no USDT/USD rate to convert them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

EXCHANGE = "exchange"
AGGREGATOR = "aggregator"
AGGREGATORS_VOTE = "aggregators"      # the one vote all aggregators share

MAX_AGE_S = {EXCHANGE: 60.0, AGGREGATOR: 120.0}
MAD_K = 3.0
MAD_SCALE = 1.4826                    # MAD -> standard deviation for normal data
BAND_FLOOR_BPS = 25.0
# A quote's own uncertainty c in Pyth's three votes. The ticker endpoints we read do not all
# carry a bid/ask, so this stands in for half a liquid venue's spread; an aggregator's number
# is an average over venues and a refresh period, hence wider.
QUOTE_CONF_BPS = {EXCHANGE: 1.0, AGGREGATOR: 5.0}
DEPEG_BPS = 50.0                      # USDT this far from 1 USD is flagged


@dataclass(frozen=True)
class VenueQuote:
    """One venue's latest quote of one coin, as the book holds it."""
    venue: str
    kind: str                         # EXCHANGE or AGGREGATOR
    quote_currency: str               # "USD" or "USDT"
    price: float                      # in the quote currency
    age_s: float                      # age of the data (not of our fetch)
    volume: float | None = None       # 24 h volume in the quote currency

    def usd(self, usdt_usd: float | None) -> float | None:
        if self.quote_currency == "USDT":
            return None if usdt_usd is None else self.price * usdt_usd
        return self.price


@dataclass(frozen=True)
class Consensus:
    price: float | None
    confidence: float | None
    spread_bps: float | None
    status: str                       # ok | degraded | single_source | stale | no_usd_rate
    sources: tuple[str, ...]          # venues whose quotes were used
    excluded: dict[str, str]          # venue -> why it was left out
    usdt_usd: float | None
    usdt_depeg: bool
    band_bps: float | None            # the outlier band used, in bps of the median
    votes: int                        # votes used (aggregators count once)
    max_age_s: dict[str, float] = field(default_factory=lambda: dict(MAX_AGE_S))

    def to_dict(self) -> dict:
        return {"price": _round(self.price), "confidence": _round(self.confidence),
                "spread_bps": None if self.spread_bps is None else round(self.spread_bps, 2),
                "status": self.status, "sources": list(self.sources),
                "excluded": dict(self.excluded),
                "usdt_usd": None if self.usdt_usd is None else round(self.usdt_usd, 6),
                "usdt_depeg": self.usdt_depeg,
                "band_bps": None if self.band_bps is None else round(self.band_bps, 2),
                "votes": self.votes, "max_age_s": dict(self.max_age_s)}


@dataclass(frozen=True)
class Check:
    """Whether one venue's quote agrees with the others: ok True/False, or None when fewer than
    two other votes make a check impossible."""
    ok: bool | None
    reason: str
    deviation_bps: float | None = None
    others: int = 0


# -- small statistics ---------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def capped_weights(weights: Sequence[float]) -> list[float]:
    """No weight above half the total: the heaviest is cut to the sum of the others (two or
    more weights; a single one stays as it is)."""
    w = [max(0.0, x) for x in weights]
    if len(w) < 2:
        return w
    top = max(range(len(w)), key=lambda i: w[i])
    rest = sum(w) - w[top]
    if w[top] > rest:
        w[top] = rest
    if sum(w) == 0:
        return [1.0] * len(w)
    return w


def weighted_median(values: Sequence[float], weights: Sequence[float]) -> float:
    """The value where the cumulative weight reaches half; the midpoint when it lands exactly
    on a boundary (so equal weights give the ordinary median)."""
    pairs = sorted(zip(values, weights))
    total = sum(w for _, w in pairs)
    if total <= 0:
        return median(values)
    half = total / 2.0
    acc = 0.0
    for i, (v, w) in enumerate(pairs):
        acc += w
        if abs(acc - half) <= 1e-12 * total and i + 1 < len(pairs):
            return (v + pairs[i + 1][0]) / 2.0
        if acc > half:
            return v
    return pairs[-1][0]


def band(prices: Sequence[float], centre: float) -> float:
    """Half-width of the outlier band around `centre`: max(3 x 1.4826 x MAD, 25 bps)."""
    mad = median([abs(p - centre) for p in prices])
    return max(MAD_K * MAD_SCALE * mad, BAND_FLOOR_BPS / 1e4 * centre)


def describe(deviation: float, n: int) -> str:
    """ "5.0 % above the median of 6 venues" """
    side = "above" if deviation > 0 else "below"
    return f"{abs(deviation) * 100:.1f} % {side} the median of {n} venue{'s' * (n != 1)}"


# -- votes --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Vote:
    name: str                         # a venue, or AGGREGATORS_VOTE
    members: tuple[VenueQuote, ...]
    usd: float
    weight: float
    kind: str


def _votes(quotes: Sequence[tuple[VenueQuote, float]]) -> list[_Vote]:
    """Exchanges vote one each; aggregators share one vote (their median). Weights: the 24 h
    volume in USD where a venue reports it, else the median of the known ones; the aggregators'
    vote gets that median too (their volume is the whole market's, not a venue's)."""
    exchanges = [(q, usd) for q, usd in quotes if q.kind != AGGREGATOR]
    aggregators = [(q, usd) for q, usd in quotes if q.kind == AGGREGATOR]
    known = [q.volume * (usd / q.price) for q, usd in exchanges if q.volume and q.volume > 0]
    typical = median(known) if known else 1.0
    votes = [_Vote(q.venue, (q,), usd,
                   q.volume * (usd / q.price) if q.volume and q.volume > 0 else typical,
                   q.kind) for q, usd in exchanges]
    if aggregators:
        votes.append(_Vote(AGGREGATORS_VOTE, tuple(q for q, _ in aggregators),
                           median([usd for _, usd in aggregators]), typical, AGGREGATOR))
    return votes


def _price(votes: Sequence[_Vote]) -> float:
    return weighted_median([v.usd for v in votes], capped_weights([v.weight for v in votes]))


def usable(quotes: Iterable[VenueQuote], usdt_usd: float | None,
           max_age_s: dict[str, float] | None = None
           ) -> tuple[list[tuple[VenueQuote, float]], dict[str, str]]:
    """(quote, USD price) of the quotes young enough and convertible; why the others are not."""
    limits = max_age_s or MAX_AGE_S
    ok: list[tuple[VenueQuote, float]] = []
    why: dict[str, str] = {}
    for q in quotes:
        limit = limits.get(q.kind, limits[EXCHANGE])
        usd = q.usd(usdt_usd)
        if q.age_s > limit:
            why[q.venue] = f"stale: {q.age_s:.0f} s old (max {limit:.0f} s)"
        elif usd is None:
            why[q.venue] = "quoted in USDT and the book has no USDT/USD rate"
        else:
            ok.append((q, usd))
    return ok, why


def consensus(quotes: Iterable[VenueQuote], usdt_usd: float | None, *,
              max_age_s: dict[str, float] | None = None) -> Consensus:
    """The consensus of one coin's venue quotes (see the module docstring)."""
    quotes = list(quotes)
    limits = dict(max_age_s or MAX_AGE_S)
    depeg = usdt_usd is not None and abs(usdt_usd - 1.0) * 1e4 > DEPEG_BPS
    fresh, excluded = usable(quotes, usdt_usd, limits)
    if not fresh and usdt_usd is None and any(q.age_s <= limits.get(q.kind, 60.0)
                                              for q in quotes):
        return Consensus(None, None, None, "no_usd_rate", (), excluded, None, False, None, 0,
                         limits)
    if not fresh:
        last = [(q, q.usd(usdt_usd)) for q in quotes if q.usd(usdt_usd) is not None]
        price = median([usd for _, usd in last]) if last else None
        return Consensus(price, None, None, "stale", tuple(q.venue for q, _ in last), excluded,
                         usdt_usd, depeg, None, 0, limits)
    votes = _votes(fresh)
    centre = median([v.usd for v in votes])
    width = band([v.usd for v in votes], centre)
    n_fresh = len(fresh)             # an outlier's reason names the others: n_fresh - 1
    kept: list[tuple[VenueQuote, float]] = []
    for q, usd in fresh:
        if len(votes) >= 3 and abs(usd - centre) > width:
            excluded[q.venue] = "outlier: " + describe((usd - centre) / centre, n_fresh - 1)
        else:
            kept.append((q, usd))
    votes = _votes(kept)
    price = _price(votes)
    conf_votes: list[float] = []
    for v in votes:
        c = v.usd * QUOTE_CONF_BPS.get(v.kind, QUOTE_CONF_BPS[EXCHANGE]) / 1e4
        conf_votes += [v.usd - c, v.usd, v.usd + c]
    p25, p50, p75 = (percentile(conf_votes, q) for q in (0.25, 0.5, 0.75))
    used = [usd for _, usd in kept]
    n = len(votes)
    status = "ok" if n >= 3 else "degraded" if n == 2 else "single_source"
    return Consensus(price, max(p50 - p25, p75 - p50), (max(used) - min(used)) / price * 1e4,
                     status, tuple(q.venue for q, _ in kept), excluded, usdt_usd, depeg,
                     width / centre * 1e4, n, limits)


def check(candidate: VenueQuote, others: Iterable[VenueQuote], usdt_usd: float | None, *,
          max_age_s: dict[str, float] | None = None) -> Check:
    """Does `candidate` agree with the consensus of the other venues? Their median and band
    (max(3 x 1.4826 x MAD, 25 bps)) decide; fewer than two other votes cannot decide."""
    usd = candidate.usd(usdt_usd)
    if usd is None:
        return Check(None, "quoted in USDT and the book has no USDT/USD rate")
    fresh, _ = usable([q for q in others if q.venue != candidate.venue], usdt_usd, max_age_s)
    if candidate.kind == AGGREGATOR:     # its fellow aggregators are one vote with it, not a check
        fresh = [(q, p) for q, p in fresh if q.kind != AGGREGATOR]
    votes = _votes(fresh)
    if len(votes) < 2:
        return Check(None, f"cannot check: {len(votes)} other fresh vote(s), 2 needed",
                     others=len(fresh))
    centre = median([v.usd for v in votes])
    width = band([v.usd for v in votes], centre)
    deviation = (usd - centre) / centre
    text = describe(deviation, len(fresh))
    return Check(abs(usd - centre) <= width, text, deviation * 1e4, len(fresh))


def votes_of(quotes: Iterable[VenueQuote]) -> int:
    """How many votes these quotes cast (aggregators together count once)."""
    quotes = list(quotes)
    return sum(q.kind != AGGREGATOR for q in quotes) + any(q.kind == AGGREGATOR for q in quotes)


def _round(x: float | None) -> float | None:
    if x is None:
        return None
    return float(f"{x:.8g}")
