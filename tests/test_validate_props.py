"""Input validation (routing/validate.py), by property: whatever a caller sends, the answer is a
clean value inside the documented bounds or InvalidInput naming the parameter; nothing else
escapes, so bad input can never become a 500 or reach a provider."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from providers.base import INTERVALS
from routing import validate
from routing.errors import InvalidInput

KNOWN = frozenset({"BTC", "ETH", "SOL", "1INCH", "XRP"})
ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                st.binary(), st.lists(st.text(max_size=5), max_size=60),
                st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)))
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)


def named(exc: InvalidInput, param: str) -> bool:
    return exc.param == param and str(exc).startswith(f"{param}: ")


@SETTINGS
@given(ANY | st.sampled_from(sorted(KNOWN)).map(lambda s: f"  {s.lower()} "))
def test_symbol_is_a_known_ticker_or_invalid_input(value):
    try:
        ticker = validate.symbol(value, KNOWN)
    except InvalidInput as exc:
        assert named(exc, "symbol")
        str(exc).encode("utf-8")            # the message is sendable as it is
    else:
        assert ticker in KNOWN and ticker == value.strip().upper()


@SETTINGS
@given(ANY | st.lists(st.sampled_from(sorted(KNOWN)), min_size=1, max_size=60)
       | st.lists(st.sampled_from(sorted(KNOWN)), min_size=1, max_size=8).map(",".join))
def test_symbols_are_1_to_50_distinct_known_tickers_or_invalid_input(value):
    try:
        tickers = validate.symbols(value, KNOWN)
    except InvalidInput as exc:
        assert named(exc, "symbols")
    else:
        assert 1 <= len(tickers) <= validate.BATCH_MAX
        assert len(set(tickers)) == len(tickers) and set(tickers) <= KNOWN


@SETTINGS
@given(ANY | st.sampled_from(list(INTERVALS)) | st.sampled_from([i.upper() for i in INTERVALS]))
def test_interval_is_a_supported_one_or_invalid_input(value):
    try:
        iv = validate.interval(value)
    except InvalidInput as exc:
        assert named(exc, "interval")
    else:
        assert iv in INTERVALS


@SETTINGS
@given(ANY | st.integers(-10, 1000).map(str) | st.floats(-5, 600))
def test_limit_is_an_integer_in_bounds_or_invalid_input(value):
    try:
        n = validate.limit(value, validate.CANDLE_LIMIT)
    except InvalidInput as exc:
        assert named(exc, "limit")
    else:
        assert isinstance(n, int) and 1 <= n <= 500
