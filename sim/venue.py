"""What the provider modules share: each venue's view of the one market, and candle windows.

A venue quotes the reference market with a small fixed premium (a few bps), its own bid/ask
spread and its share of the world's volume, so every provider is close to the others (well
inside 1 %) without being identical. Aggregators also refresh on a cadence, like the real ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from .market import DAY, Bar, Market

EPOCH_MONDAY = 4 * DAY          # 1970-01-01 was a Thursday; weeks on most venues start Monday


@dataclass(frozen=True)
class VenueProfile:
    offset_bps: float               # fixed premium (+) or discount (-) to the reference price
    spread_bps: float = 1.0         # bid-ask spread
    volume_share: float = 1.0       # share of the reference 24h volume reported here
    trade_usd: float = 800.0        # average trade size, for trade counts and ids
    refresh_s: float = 0.0          # the numbers move every this many seconds (0 = live)
    quote: str = "USD"              # "USDT": prices are in tether, at the market's USDT/USD rate


class VenueView:
    """One venue's numbers at one instant.

    The wrong_price and skew faults show up here: `price_factor` multiplies every price,
    `fixed_price` (when set) replaces the current price of every coin, history scaled alike.
    A USDT-quoted venue divides USD prices by the USDT/USD rate: the market's own tether price,
    or `usdt_usd` while the de-peg switch is on (which also moves tether's own USD price).
    """

    def __init__(self, market: Market, profile: VenueProfile, now: float,
                 price_factor: float = 1.0, fixed_price: float | None = None,
                 usdt_usd: float | None = None):
        self.market = market
        self.profile = profile
        self.now = now
        refresh = profile.refresh_s
        self.t = math.floor(now / refresh) * refresh if refresh else now
        self.factor = (1.0 + profile.offset_bps / 1e4) * price_factor
        self.fixed_price = fixed_price
        self.depeg = None if usdt_usd is None else usdt_usd / market.price("USDT", self.t)
        if profile.quote == "USDT":
            self.factor /= usdt_usd if usdt_usd is not None else market.price("USDT", self.t)

    def factor_for(self, ticker: str) -> float:
        """What reference prices of this coin are multiplied by here."""
        if self.fixed_price is not None:
            return self.fixed_price / self.market.price(ticker, self.t)
        if ticker == "USDT" and self.depeg is not None:
            return self.factor * self.depeg
        return self.factor

    def last(self, ticker: str) -> float:
        return self.market.price(ticker, self.t) * self.factor_for(ticker)

    def price_at(self, ticker: str, when: float) -> float:
        return self.market.price(ticker, min(when, self.t)) * self.factor_for(ticker)

    def book(self, ticker: str) -> tuple[float, float]:
        """(best bid, best ask) around the last price."""
        last = self.last(ticker)
        half = self.profile.spread_bps / 2e4
        return last * (1 - half), last * (1 + half)

    def scale(self, bar: Bar, ticker: str) -> Bar:
        f, share = self.factor_for(ticker), self.profile.volume_share
        return Bar(bar.open * f, bar.high * f, bar.low * f, bar.close * f,
                   bar.volume * share, bar.quote_volume * share * f)

    def window(self, ticker: str, seconds: float = DAY) -> Bar:
        """Rolling stats over the last `seconds` (24h tickers)."""
        return self.scale(self.market.window(ticker, self.t, seconds), ticker)

    def since(self, ticker: str, start: float) -> Bar:
        """Stats from `start` (e.g. 00:00 UTC) to now."""
        bar = self.market.bar(ticker, start, self.t) or self.market.bar(ticker, self.t - 1, self.t)
        return self.scale(bar, ticker)

    def candles(self, ticker: str, windows: list[tuple[float, float]]) -> list[tuple[float, Bar]]:
        """(open time, bar) for each window that has begun; the last one may be partial."""
        out = []
        for start, end in windows:
            bar = self.market.bar(ticker, start, min(end, self.t))
            if bar is not None:
                out.append((start, self.scale(bar, ticker)))
        return out

    def trades(self, bar: Bar) -> int:
        """Trade count behind a bar's volume."""
        return max(1, round(abs(bar.quote_volume) / self.profile.trade_usd))

    def trade_id(self, ticker: str) -> int:
        """A trade id that only grows: trades so far at the coin's typical pace."""
        econ = self.market.economics(ticker)
        per_second = econ.volume * self.profile.volume_share / self.profile.trade_usd / DAY
        return int((self.t - 1.5e9) * per_second) + 1


# ---------------------------------------------------------------------------- candle windows

def grid_windows(step: int, now: float, limit: int, *, start: float | None = None,
                 end: float | None = None, offset: int = 0,
                 earliest_first: bool = False) -> list[tuple[int, int]]:
    """Windows (open, open+step) on the grid `offset + k*step`, ascending, none opening after now.

    `start`/`end` bound the open times (inclusive). When both bounds leave more than `limit`
    windows, the latest are kept, or the earliest with `earliest_first` (Binance's startTime).
    """
    if limit <= 0:
        return []

    def on_grid(t: float, rounding=math.floor) -> int:
        return rounding((t - offset) / step) * step + offset

    last = on_grid(now) if end is None else min(on_grid(now), on_grid(end))
    first = last - (limit - 1) * step
    if start is not None:
        lowest = on_grid(start, math.ceil)
        if earliest_first:
            first, last = lowest, min(last, lowest + (limit - 1) * step)
        else:
            first = max(first, lowest)
    if last < first:
        return []
    return [(o, o + step) for o in range(int(first), int(last) + 1, step)]


def _month_start(t: float, shift: int) -> datetime:
    dt = datetime.fromtimestamp(t + shift, tz=timezone.utc)
    return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _add_months(dt: datetime, months: int) -> datetime:
    index = dt.year * 12 + dt.month - 1 + months
    return dt.replace(year=index // 12, month=index % 12 + 1)


def month_windows(now: float, limit: int, *, start: float | None = None,
                  end: float | None = None, shift_hours: int = 0,
                  earliest_first: bool = False) -> list[tuple[int, int]]:
    """Calendar-month windows (in UTC shifted by `shift_hours`), ascending, like grid_windows."""
    if limit <= 0:
        return []
    shift = shift_hours * 3600
    last = _month_start(min(now, end) if end is not None else now, shift)
    first = _add_months(last, -(limit - 1))
    if start is not None:
        lowest = _month_start(start, shift)
        if lowest.timestamp() - shift < start:
            lowest = _add_months(lowest, 1)
        if earliest_first:
            first = lowest
            last = min(last, _add_months(lowest, limit - 1))
        else:
            first = max(first, lowest)
    out = []
    month = first
    while month <= last:
        following = _add_months(month, 1)
        out.append((int(month.timestamp()) - shift, int(following.timestamp()) - shift))
        month = following
    return out
