"""One simulated market that every fake provider quotes from, so venues agree with each other.

The price of a coin is a pure function of (seed, coin, time): nothing depends on when the
simulator started or on which requests came first, so two processes with the same seed serve the
same numbers, and a candle asked for twice (at any interval) is the same candle.

The path is built top-down so candles at every interval nest exactly:

* day level: the log price at each 00:00 UTC is a mean-reverting (Ornstein-Uhlenbeck) sum of
  seeded daily shocks, partly shared with a market-wide factor (alts move with BTC), computed
  over a fixed window so any day can be evaluated on its own;
* hour level: a Brownian bridge between two day levels gives the 25 hour boundaries; each hour
  gets a high and a low drawn around its open and close, and a share of the day's volume;
* minute level: a bridge pinned at the hour's open, high, low and close (folded inside them)
  gives the 61 minute boundaries, so the minute candles of an hour reach exactly its high and
  low, and their volumes add up to its volume.

Any other candle (5m, 4h, 1w, a month, a window starting at 16:00 UTC) is the merge of the day,
hour and minute bars it covers; a window reaching "now" ends with a partial minute.
"""
from __future__ import annotations

import math
import operator
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Sequence

from .listings import BY_TICKER, UNIVERSE, Listing

MINUTE = 60
HOUR = 3600
DAY = 86400

SHOCK_BLOCK = 256            # daily shocks are drawn in blocks of this many days
LEVEL_CUTOFF = 1e-3          # a shock older than where its weight falls below this is ignored
INTRADAY_NOISE = 0.9         # hour-bridge volatility relative to the daily volatility / sqrt(24)
HOUR_WICK = 0.5              # mean hour high/low excursion beyond open/close, in hourly sigmas
MINUTE_WICK = 0.4            # mean minute wick, in minute sigmas (always inside the hour's range)
# Share of a day's volume by hour of day (UTC): busiest around the US open.
HOUR_SEASON = tuple(1.0 + 0.35 * math.cos(2 * math.pi * (hour - 15) / 24) for hour in range(24))


@dataclass(frozen=True)
class Economics:
    """What a coin looks like on a typical day: the level its price reverts to, supply, volume."""
    price: float                 # USD level the random walk reverts to
    supply: float                # circulating supply (market cap = price * supply)
    max_supply: float | None
    volume: float                # typical 24h volume across all venues, USD
    volatility: float            # daily log-return standard deviation
    market_beta: float = 0.7     # correlation of daily shocks with the market factor (BTC)
    reversion: float = 1 / 15    # per-day pull back of daily moves to the cycle (stables: strong)

    @property
    def cycle(self) -> float:
        """Standard deviation of the slow market cycle in this coin's log price."""
        return CYCLE_STD * self.market_beta * math.sqrt(self.volatility / 0.025)


def _stable(supply: float, volume: float, price: float = 1.0) -> Economics:
    return Economics(price, supply, None, volume, 0.0004, market_beta=0.0, reversion=0.5)


# Late-2025-like levels; supplies are set so market caps follow the ranks in sim.listings.
ECONOMICS: dict[str, Economics] = {
    "BTC": Economics(90000, 19.95e6, 21e6, 35e9, 0.025, market_beta=1.0),
    "ETH": Economics(3000, 120.7e6, None, 18e9, 0.035, market_beta=0.85),
    "USDT": _stable(185e9, 80e9, 1.0002),
    "XRP": Economics(2.1, 60.3e9, 100e9, 3e9, 0.045),
    "BNB": Economics(880, 137.7e6, 200e6, 1.8e9, 0.03, market_beta=0.8),
    "SOL": Economics(140, 560e6, None, 4e9, 0.045, market_beta=0.8),
    "USDC": _stable(76e9, 9e9, 0.9999),
    "DOGE": Economics(0.18, 151.5e9, None, 1.2e9, 0.05),
    "TRX": Economics(0.28, 94.7e9, None, 600e6, 0.025, market_beta=0.5),
    "ADA": Economics(0.42, 36.5e9, 45e9, 700e6, 0.05),
    "HYPE": Economics(34, 337e6, 1e9, 250e6, 0.06),
    "LINK": Economics(13, 697e6, 1e9, 600e6, 0.05),
    "XLM": Economics(0.25, 32.2e9, 50e9, 250e6, 0.045),
    "SUI": Economics(1.95, 3.7e9, 10e9, 600e6, 0.06),
    "BCH": Economics(346, 19.95e6, 21e6, 400e6, 0.04),
    "AVAX": Economics(15.1, 430e6, 720e6, 450e6, 0.055),
    "HBAR": Economics(0.144, 42.4e9, 50e9, 200e6, 0.05),
    "LTC": Economics(75.8, 76.5e6, 84e6, 500e6, 0.04),
    "TON": Economics(2.2, 2.5e9, None, 150e6, 0.045),
    "SHIB": Economics(0.00000883, 589e12, None, 150e6, 0.05),
    "DOT": Economics(3.06, 1.6e9, None, 200e6, 0.05),
    "XMR": Economics(249, 18.45e6, None, 100e6, 0.04, market_beta=0.5),
    "UNI": Economics(6.8, 630e6, 1e9, 300e6, 0.055),
    "PEPE": Economics(0.0000095, 420.69e12, 420.69e12, 500e6, 0.07),
    "AAVE": Economics(250, 15.2e6, 16e6, 300e6, 0.055),
    "NEAR": Economics(2.8, 1.28e9, None, 200e6, 0.055),
    "APT": Economics(4.86, 700e6, None, 100e6, 0.055),
    "ICP": Economics(5.9, 540e6, None, 80e6, 0.055),
    "ETC": Economics(19.5, 154e6, 210.7e6, 100e6, 0.045),
    "POL": Economics(0.27, 10.5e9, None, 80e6, 0.055),
    "ATOM": Economics(5.74, 470e6, None, 80e6, 0.05),
    "FIL": Economics(3.64, 700e6, 1.96e9, 150e6, 0.055),
    "ARB": Economics(0.445, 5.5e9, 10e9, 200e6, 0.06),
    "ONDO": Economics(0.74, 3.16e9, 10e9, 100e6, 0.06),
    "ALGO": Economics(0.256, 8.8e9, 10e9, 60e6, 0.055),
    "VET": Economics(0.025, 86e9, 86.7e9, 40e6, 0.055),
    "RENDER": Economics(3.96, 518e6, 644e6, 50e6, 0.065),
    "OP": Economics(1.03, 1.9e9, 4.29e9, 100e6, 0.06),
    "INJ": Economics(18.5, 100e6, 100e6, 50e6, 0.065),
    "DAI": _stable(1.78e9, 150e6, 0.9998),
    "TAO": Economics(177, 9.6e6, 21e6, 150e6, 0.065),
    "ENA": Economics(0.205, 7.9e9, 15e9, 300e6, 0.07),
    "WLD": Economics(0.646, 2.4e9, 10e9, 150e6, 0.07),
    "SEI": Economics(0.235, 6.3e9, 10e9, 80e6, 0.065),
    "BONK": Economics(0.0000172, 82e12, None, 60e6, 0.075),
    "TIA": Economics(1.58, 850e6, None, 60e6, 0.065),
    "JUP": Economics(0.4, 3.2e9, 10e9, 30e6, 0.065),
    "FET": Economics(0.47, 2.6e9, 2.7e9, 60e6, 0.065),
    "QNT": Economics(80, 14.5e6, 14.6e6, 20e6, 0.05),
    "STX": Economics(0.61, 1.8e9, 1.818e9, 30e6, 0.06),
}

MARKET_FACTOR = "@market"    # daily shock stream shared by every coin with a market beta
CYCLE_FACTOR = "@cycle"      # slow shock stream: months-long bull and bear phases, shared
CYCLE_REVERSION = 1 / 365
MOOD_REVERSION = 1 / 6       # Fear & Greed's own noise: a few days of memory
CYCLE_STD = 0.06             # BTC's cycle amplitude (log); alts scale with beta and volatility


class Bar(NamedTuple):
    """An OHLCV bar in USD; `volume` is in the coin, `quote_volume` in USD."""
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float

    @property
    def typical(self) -> float:
        return (self.high + self.low + self.close) / 3.0


def merge(bars: Sequence[Bar]) -> Bar:
    """The bar covering consecutive bars: first open, last close, extremes, summed volumes."""
    if len(bars) == 1:
        return bars[0]
    return Bar(bars[0].open, max(b.high for b in bars), min(b.low for b in bars), bars[-1].close,
               sum(b.volume for b in bars), sum(b.quote_volume for b in bars))


def fear_greed_label(value: int) -> str:
    """alternative.me's classification bands."""
    if value < 25:
        return "Extreme Fear"
    if value < 47:
        return "Fear"
    if value < 55:
        return "Neutral"
    if value < 76:
        return "Greed"
    return "Extreme Greed"


def _normal(uniform) -> float:
    """A cheap standard normal (Irwin-Hall of four uniforms; tails cut at 3.5 sigma)."""
    return (uniform() + uniform() + uniform() + uniform() - 2.0) * 1.7320508075688772


def _bridge(rng: random.Random, start: float, end: float, steps: int, sigma: float) -> list[float]:
    """A Brownian bridge of `steps` steps from `start` to `end` (both included)."""
    uniform = rng.random
    walk = [0.0]
    total = 0.0
    for _ in range(steps):
        total += _normal(uniform) * sigma
        walk.append(total)
    return [start + (end - start) * i / steps + walk[i] - total * i / steps
            for i in range(steps + 1)]


def _fold(value: float, low: float, high: float) -> float:
    """Reflect a value back inside [low, high] (a path bounces off the range instead of
    sticking to it, so highs and lows are not revisited exactly)."""
    span = high - low
    if span <= 0:
        return low
    x = (value - low) % (2 * span)
    return low + (2 * span - x if x > span else x)


class _DayPath(NamedTuple):
    """A day's 25 hour-boundary prices and its 24 hour bars."""
    prices: tuple[float, ...]
    bars: tuple[Bar, ...]


class _HourPath(NamedTuple):
    """An hour's 61 minute-boundary prices and its 60 minute bars."""
    prices: tuple[float, ...]
    bars: tuple[Bar, ...]


class Market:
    """The simulated reference market (USD). Venues quote it with their own small offsets."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._weights: dict[float, tuple[float, ...]] = {}
        self._shock_block = lru_cache(maxsize=16384)(self._make_shock_block)
        self._factor_level = lru_cache(maxsize=65536)(self._make_factor_level)
        self._cycle_knot = lru_cache(maxsize=8192)(self._make_cycle_knot)
        self._level = lru_cache(maxsize=400_000)(self._make_level)
        self._day = lru_cache(maxsize=4096)(self._make_day)
        self._day_bar = lru_cache(maxsize=200_000)(self._make_day_bar)
        self._hour = lru_cache(maxsize=2048)(self._make_hour)

    # -- the universe -------------------------------------------------------------------------
    @staticmethod
    def coins() -> tuple[Listing, ...]:
        return UNIVERSE

    @staticmethod
    def knows(ticker: str) -> bool:
        return ticker in BY_TICKER

    @staticmethod
    def economics(ticker: str) -> Economics:
        return ECONOMICS[ticker]

    # -- prices and bars ----------------------------------------------------------------------
    def price(self, ticker: str, t: float) -> float:
        """The reference USD price at time t (log-interpolated between minute boundaries)."""
        hour_index = math.floor(t / HOUR)
        into = t - hour_index * HOUR
        minute = min(59, int(into // MINUTE))
        prices = self._hour(ticker, hour_index).prices
        frac = (into - minute * MINUTE) / MINUTE
        p0, p1 = prices[minute], prices[minute + 1]
        return p0 * (p1 / p0) ** frac if frac else p0

    def bar(self, ticker: str, start: float, end: float) -> Bar | None:
        """The bar over [start, end): exact merge of the day, hour and minute bars it covers.

        Callers clip `end` to now; a window that does not end on a minute boundary ends with a
        partial minute (what a still-open candle looks like).
        """
        if end <= start:
            return None
        parts: list[Bar] = []
        t = start
        while t < end:
            if t % DAY == 0 and t + DAY <= end:
                parts.append(self._day_bar(ticker, int(t // DAY)))
                t += DAY
            elif t % HOUR == 0 and t + HOUR <= end:
                day, hour = divmod(int(t // HOUR), 24)
                parts.append(self._day(ticker, day).bars[hour])
                t += HOUR
            elif t % MINUTE == 0 and t + MINUTE <= end:
                hour_index, minute = divmod(int(t // MINUTE), 60)
                parts.append(self._hour(ticker, hour_index).bars[minute])
                t += MINUTE
            else:
                stop = min(end, (math.floor(t / MINUTE) + 1) * MINUTE)
                parts.append(self._partial_minute(ticker, t, stop))
                t = stop
        return merge(parts)

    def bars(self, ticker: str, windows: Sequence[tuple[float, float]]) -> list[Bar | None]:
        return [self.bar(ticker, start, end) for start, end in windows]

    def window(self, ticker: str, now: float, seconds: float = DAY) -> Bar:
        """The rolling bar over the last `seconds` up to now (24h stats)."""
        return self.bar(ticker, now - seconds, now)

    def change_pct(self, ticker: str, now: float, seconds: float) -> float:
        then = self.price(ticker, now - seconds)
        return (self.price(ticker, now) / then - 1.0) * 100.0

    def market_cap(self, ticker: str, t: float) -> float:
        return self.price(ticker, t) * ECONOMICS[ticker].supply

    def ranked(self, now: float) -> list[str]:
        """Tickers by market cap at `now`, largest first (aggregators' rank order)."""
        return sorted(BY_TICKER, key=lambda t: -self.market_cap(t, now))

    def all_time_high(self, ticker: str, now: float) -> tuple[float, float]:
        """(price, epoch seconds) of a plausible all-time high at or above today's prices."""
        rng = random.Random(f"{self.seed}|ath|{ticker}")
        econ = ECONOMICS[ticker]
        level = econ.price * (1.0 + (0.01 if econ.market_beta == 0 else rng.uniform(0.3, 1.5)))
        when = rng.uniform(1609459200, 1759276800)        # 2021-01-01 .. 2025-10-01
        high = self.window(ticker, now).high
        return (high, now) if high > level else (level, when)

    def fear_greed(self, day: int) -> int:
        """The Fear & Greed value (0..100) for a UTC day: BTC's two-week trend plus mood noise."""
        btc = ECONOMICS["BTC"]
        trend = (self._level("BTC", day) - self._level("BTC", day - 14)) / (btc.volatility * 3.7)
        phi = 1.0 - MOOD_REVERSION
        mood = math.sqrt(1 - phi * phi) * self._factor_level("@mood", MOOD_REVERSION, day)
        return max(0, min(100, round(50 + 48 * math.tanh(0.45 * trend + 0.4 * mood))))

    # -- the path, level by level -------------------------------------------------------------
    def _make_shock_block(self, stream: str, block: int) -> tuple[float, ...]:
        rng = random.Random(f"{self.seed}|shocks|{stream}|{block}")
        return tuple(rng.gauss(0.0, 1.0) for _ in range(SHOCK_BLOCK))

    def _shocks(self, stream: str, first_day: int, count: int) -> list[float]:
        out: list[float] = []
        day = first_day
        while len(out) < count:
            block, offset = divmod(day, SHOCK_BLOCK)
            take = min(SHOCK_BLOCK - offset, count - len(out))
            out.extend(self._shock_block(stream, block)[offset:offset + take])
            day += take
        return out

    def _decay_weights(self, reversion: float) -> tuple[float, ...]:
        """phi^(W-1) .. phi^0 for the windowed OU sum (oldest shock first)."""
        weights = self._weights.get(reversion)
        if weights is None:
            phi = 1.0 - reversion
            size = max(2, math.ceil(math.log(LEVEL_CUTOFF) / math.log(phi)))
            weights = tuple(phi ** (size - 1 - i) for i in range(size))
            self._weights[reversion] = weights
        return weights

    def _make_cycle_knot(self, week: int) -> float:
        phi = (1.0 - CYCLE_REVERSION) ** 7
        return math.sqrt(1 - phi * phi) * self._factor_level(CYCLE_FACTOR, 1.0 - phi, week)

    def _make_factor_level(self, stream: str, reversion: float, day: int) -> float:
        weights = self._decay_weights(reversion)
        return sum(map(operator.mul, weights, self._shocks(stream, day - len(weights),
                                                           len(weights))))

    def _make_level(self, ticker: str, day: int) -> float:
        """Log deviation from the coin's level at 00:00 UTC of `day`: a fast OU of daily shocks
        plus the slow shared cycle, both stationary so prices stay near their level.

        BTC is the market factor; other coins mix it (by their beta) with shocks of their own.
        """
        econ = ECONOMICS[ticker]
        beta = econ.market_beta
        if ticker == "BTC":
            shock_sum = self._factor_level(MARKET_FACTOR, econ.reversion, day)
        elif beta == 0:
            shock_sum = self._factor_level(ticker, econ.reversion, day)
        else:
            shock_sum = (beta * self._factor_level(MARKET_FACTOR, econ.reversion, day)
                         + math.sqrt(1 - beta * beta)
                         * self._factor_level(ticker, econ.reversion, day))
        cycle = econ.cycle * self._cycle(day) if econ.market_beta else 0.0
        return econ.volatility * shock_sum + cycle

    def _cycle(self, day: int) -> float:
        """The slow market cycle (unit variance) at `day`: an OU on a weekly grid, linearly
        interpolated between weeks (a daily grid would need years of shocks per day)."""
        week, into = divmod(day, 7)
        this, following = self._cycle_knot(week), self._cycle_knot(week + 1)
        return this + (following - this) * into / 7

    def _make_day(self, ticker: str, day: int) -> _DayPath:
        econ = ECONOMICS[ticker]
        x0, x1 = self._level(ticker, day), self._level(ticker, day + 1)
        rng = random.Random(f"{self.seed}|day|{ticker}|{day}")
        uniform = rng.random
        sigma_h = econ.volatility / math.sqrt(24)
        wick = sigma_h * HOUR_WICK
        prices = tuple(econ.price * math.exp(v)
                       for v in _bridge(rng, x0, x1, 24, sigma_h * INTRADAY_NOISE))
        move = min(4.0, abs(x1 - x0) / econ.volatility)
        day_volume = econ.volume * math.exp(0.2 * _normal(uniform) - 0.02) * (0.75 + 0.25 * move)
        shapes = []
        for hour in range(24):
            o, c = prices[hour], prices[hour + 1]
            high = max(o, c) * math.exp(-math.log(1.0 - uniform()) * wick)
            low = min(o, c) * math.exp(math.log(1.0 - uniform()) * wick)
            activity = 1.0 + 0.5 * min(6.0, abs(math.log(c / o)) / sigma_h)
            weight = HOUR_SEASON[hour] * activity * math.exp(0.3 * _normal(uniform))
            shapes.append((o, high, low, c, weight))
        total = sum(s[4] for s in shapes)
        bars = []
        for o, high, low, c, weight in shapes:
            quote = day_volume * weight / total
            bars.append(Bar(o, high, low, c, quote / ((high + low + c) / 3.0), quote))
        return _DayPath(prices, tuple(bars))

    def _make_day_bar(self, ticker: str, day: int) -> Bar:
        return merge(self._day(ticker, day).bars)

    def _make_hour(self, ticker: str, hour_index: int) -> _HourPath:
        """Minute path pinned at the hour's open, high, low and close, folded inside them."""
        econ = ECONOMICS[ticker]
        day, hour = divmod(hour_index, 24)
        hb = self._day(ticker, day).bars[hour]
        rng = random.Random(f"{self.seed}|hour|{ticker}|{hour_index}")
        sigma_m = econ.volatility / math.sqrt(1440)
        at_high, at_low = rng.sample(range(1, 60), 2)
        pins = sorted([(0, math.log(hb.open)), (at_high, math.log(hb.high)),
                       (at_low, math.log(hb.low)), (60, math.log(hb.close))])
        logs = [0.0] * 61
        for (i0, v0), (i1, v1) in zip(pins, pins[1:]):
            logs[i0:i1 + 1] = _bridge(rng, v0, v1, i1 - i0, sigma_m)
        top, bottom = math.log(hb.high), math.log(hb.low)
        prices = [math.exp(_fold(v, bottom, top)) for v in logs]
        prices[0], prices[60] = hb.open, hb.close
        prices[at_high], prices[at_low] = hb.high, hb.low
        uniform = rng.random
        wick = sigma_m * MINUTE_WICK
        shapes = []
        for minute in range(60):
            o, c = prices[minute], prices[minute + 1]
            high = min(hb.high, max(o, c) * math.exp(-math.log(1.0 - uniform()) * wick))
            low = max(hb.low, min(o, c) * math.exp(math.log(1.0 - uniform()) * wick))
            activity = 1.0 + 0.5 * min(6.0, abs(math.log(c / o)) / sigma_m)
            shapes.append((o, high, low, c, activity * math.exp(0.4 * _normal(uniform))))
        total = sum(s[4] for s in shapes)
        bars = []
        for o, high, low, c, weight in shapes:
            volume = hb.volume * weight / total
            bars.append(Bar(o, high, low, c, volume, volume * (high + low + c) / 3.0))
        return _HourPath(tuple(prices), tuple(bars))

    def _partial_minute(self, ticker: str, start: float, stop: float) -> Bar:
        """A slice of one minute (the still-open candle, or the ragged edge of a rolling window)."""
        o, c = self.price(ticker, start), self.price(ticker, stop)
        hour_index, minute = divmod(int(start // MINUTE), 60)
        whole = self._hour(ticker, hour_index).bars[minute]
        volume = whole.volume * (stop - start) / MINUTE
        high, low = max(o, c), min(o, c)
        return Bar(o, high, low, c, volume, volume * (high + low + c) / 3.0)
