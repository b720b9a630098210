"""What every tab shares: calling a service function so that failures become short messages
(never tracebacks), the inline message markup, and the options every UI-only event gets."""
from __future__ import annotations

import html
import logging
from typing import Any, Callable

from routing import InvalidInput, NoProviderAvailable

log = logging.getLogger("ui")

# UI events are not part of the public API: the colleague's gr.api endpoints are.
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
# Reads of in-memory state or of the router (which has its own cache, budgets and locks): let
# every browser session run at once instead of queueing behind one another.
READ = {**PRIVATE, "concurrency_limit": None}

LOADING = "Loading…"


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """(value, None) on success, (None, readable message) on a caller or provider error."""
    try:
        return fn(*args, **kwargs), None
    except InvalidInput as exc:
        return None, f"{exc.param}: {exc.message}"
    except NoProviderAvailable as exc:
        return None, describe_unavailable(exc)
    except ValueError as exc:     # e.g. ai.InvalidText: already worded for the caller
        return None, str(exc)
    except Exception as exc:      # the UI must keep working whatever a backend bug does
        log.exception("UI call %s failed", getattr(fn, "__name__", fn))
        return None, f"unexpected error ({type(exc).__name__}); see the server log"


def describe_unavailable(exc: NoProviderAvailable) -> str:
    reasons = "; ".join(f"{p}: {r}" for p, r in list(exc.reasons.items())[:6])
    more = len(exc.reasons) - 6
    if more > 0:
        reasons += f"; and {more} more"
    return (f"No provider could answer {exc.what} right now, retry in {exc.retry_after:.0f} s"
            + (f" ({reasons})" if reasons else ""))


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def message(text: str, kind: str = "info") -> str:
    """An inline message box (kind: info, ok, warn, error) as HTML for a gr.HTML."""
    return f'<div class="ui-msg ui-msg-{kind}" role="status">{esc(text)}</div>'


def meta_line(parts: list[str]) -> str:
    """A small grey line of facts (source, cached, age...) under a panel."""
    return '<div class="ui-meta">' + " · ".join(esc(p) for p in parts if p) + "</div>"


def section(title: str, parts: list[str] | None = None, error: str | None = None) -> str:
    """A panel heading with its facts on the same line, and an error box under it if any."""
    facts = " · ".join(esc(p) for p in parts or [] if p)
    head = (f'<div class="ui-section"><span class="ui-section-title">{esc(title)}</span>'
            f'<span class="ui-meta">{facts}</span></div>')
    return head + (message(error, "error") if error else "")
