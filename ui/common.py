"""What every tab shares: calling a service function so that failures become short messages
(never tracebacks), the inline message markup, and the options every UI-only event gets."""
from __future__ import annotations

import html
import logging
import re
import time
from typing import Any, Callable

import gradio as gr

from routing import InvalidInput, NoProviderAvailable

from . import formatting as fmt
from . import tables

log = logging.getLogger("ui")

# UI events are not part of the public API: the colleague's gr.api endpoints are.
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
# Reads of in-memory state or of the router (which has its own cache, budgets and locks): let
# every browser session run at once instead of queueing behind one another.
READ = {**PRIVATE, "concurrency_limit": None}

# A live panel's refreshes (page load, tab switch, timer, the user's own asks) leave what it shows
# in place: no overlay over the table or chart, only Gradio's runtime counter on the panel's head,
# which style.css hides behind a small "refreshing…" note. A timer tick is skipped while the last
# one still runs ("once"), so slow refreshes never pile up. Give each event `show_progress_on`
# = the panel's head (an HTML with `LIVE_HEAD` among its classes).
LIVE = {**READ, "show_progress": "minimal", "trigger_mode": "once"}
LIVE_HEAD = "live-head"


def live(head: Any = None) -> dict[str, Any]:
    """The options of a live panel's refresh event: its progress on `head` only; with no head
    (a quick read of local state) no progress at all."""
    if head is None:
        return {**LIVE, "show_progress": "hidden"}
    return {**LIVE, "show_progress_on": head}

LOADING = "Loading…"


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """(value, None) on success, (None, readable message) on a caller or provider error."""
    try:
        return fn(*args, **kwargs), None
    except InvalidInput as exc:
        return None, Notice(f"{exc.param}: {exc.message}", caller_error=True)
    except NoProviderAvailable as exc:
        return None, describe_unavailable(exc)
    except ValueError as exc:     # e.g. ai.InvalidText: already worded for the caller
        return None, str(exc)
    except Exception as exc:      # the UI must keep working whatever a backend bug does
        log.exception("UI call %s failed", getattr(fn, "__name__", fn))
        return None, "something went wrong on our side; the details are in the server log"


class Notice(str):
    """A short sentence for people, with per-provider details shown one click away (and the
    outage it words, when it is one)."""

    details: dict[str, str]
    outage: NoProviderAvailable | None
    caller_error: bool              # the caller's input was refused (not a failed refresh)

    def __new__(cls, text: str, details: dict[str, str] | None = None,
                outage: NoProviderAvailable | None = None,
                caller_error: bool = False) -> "Notice":
        obj = super().__new__(cls, text)
        obj.details = dict(details or {})
        obj.outage = outage
        obj.caller_error = caller_error
        return obj


def describe_unavailable(exc: NoProviderAvailable) -> Notice:
    return Notice(exc.sentence(), exc.reasons, exc)


# "(2 min old)" in an outage sentence: dropped where the panel's live age line says it instead,
# so the page never shows an age that stopped counting beside one that counts.
_FIXED_AGE = re.compile(r" \([^()]*\bold\)")


def without_fixed_age(text: str) -> str:
    return _FIXED_AGE.sub("", text)


def details_html(details: dict[str, str]) -> str:
    """The reasons behind a message, folded: one line per provider."""
    if not details:
        return ""
    items = "".join(f"<li><b>{esc(name)}</b>: {esc(why)}</li>" for name, why in details.items())
    return (f'<details class="ui-details"><summary>Why, per source ({len(details)})</summary>'
            f"<ul>{items}</ul></details>")


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def message(text: str, kind: str = "info") -> str:
    """An inline message box (kind: info, ok, warn, error) as HTML for a gr.HTML; a Notice's
    details follow, folded."""
    extra = details_html(text.details) if isinstance(text, Notice) else ""
    return f'<div class="ui-msg ui-msg-{kind}" role="status">{esc(text)}{extra}</div>'


def meta_line(parts: list[str]) -> str:
    """A small grey line of facts (source, cached, age...) under a panel."""
    return '<div class="ui-meta">' + " · ".join(esc(p) for p in parts if p) + "</div>"


# Shown by style.css only while the panel's refresh runs (Gradio's tracker on its head is on).
REFRESHING = '<span class="ui-refreshing"> · refreshing…</span>'


def section(title: str, parts: list[str] | None = None, error: str | None = None,
            warning: str | None = None, age: str = "") -> str:
    """A panel heading with its facts on the same line (first the `age` markup of what it shows,
    then "refreshing…" while a refresh runs), and an error or warning box under it."""
    facts = " · ".join([age] * bool(age) + [esc(p) for p in parts or [] if p])
    head = (f'<div class="ui-section"><span class="ui-section-title">{esc(title)}</span>'
            f'<span class="ui-meta">{facts}{REFRESHING}</span></div>')
    return head + (message(error, "error") if error else "") + \
        (message(warning, "warn") if warning else "")


def age_html(what: str, data_at: float, now: float | None = None) -> str:
    """"prices from 08:41:05 UTC, 12 s old": when the data was true and how old it is. The age
    keeps counting in the browser (HEAD's script) from the server's own reading, so it stays
    honest while a refresh is slow, whatever the browser's clock says."""
    now = time.time() if now is None else now
    return (f'{esc(what)} from {time.strftime("%H:%M:%S", time.gmtime(data_at))} UTC, '
            f'<span class="ui-age" data-at="{data_at:.1f}" data-now="{now:.1f}">'
            f'{fmt.seconds(max(0.0, now - data_at))} old</span>')


def shown(what: str, data_at: float) -> dict:
    """What a panel shows in one browser session, kept in its gr.State: when the data was true
    and what it is ("prices"). The State holds None while the panel shows only a placeholder."""
    return {"at": float(data_at), "what": what}


def kept_head(title: str, error: str, last: dict, now: float | None = None,
              parts: list[str] | None = None) -> str:
    """The head of a panel whose refresh failed while it still shows older content: why, and
    the age of what stays on screen."""
    outage = getattr(error, "outage", None)
    if getattr(error, "caller_error", False):      # bad input: said as an error, the last stays
        return section(title, parts, error=f"{error} (still showing the last {last['what']})",
                       age=age_html(last["what"], last["at"], now))
    if outage is not None:           # "All 9 price sources are failing; showing prices from ..."
        why = Notice(without_fixed_age(outage.sentence(now, data_at=last["at"])), outage.reasons)
    else:
        why = Notice(f"Couldn't refresh, still showing the last {last['what']}: {error}",
                     getattr(error, "details", None))
    return section(title, parts, warning=why, age=age_html(last["what"], last["at"], now))


def keep() -> Any:
    """The output left as the browser has it (no value sent, nothing re-drawn)."""
    return gr.skip()


def kept(value: Any) -> bool:
    """Whether a handler's output leaves the component as it is (see keep())."""
    return isinstance(value, dict) and value == gr.skip()


SHOW_ALL = "Show all columns"
WIDE_SCREEN_PX = 1000
# Run in the browser before a table's first load: wide screens start with every column, phones
# with the key ones (the checkbox changes it either way).
WIDE_SCREEN_JS = f"(show_all) => window.innerWidth >= {WIDE_SCREEN_PX}"
# The same for a handler that also reads its panel's gr.State (passed through unchanged).
WIDE_SCREEN_JS_LAST = f"(show_all, last) => [window.innerWidth >= {WIDE_SCREEN_PX}, last]"


def wide_screen_js(count: int) -> str:
    """Browser-side: tick `count` "Show all columns" boxes on a wide screen, at once, so every
    handler that reads them (tab switches, timers) sees the same choice as the first load."""
    return (f"() => {{ const wide = window.innerWidth >= {WIDE_SCREEN_PX}; "
            f"return Array({count}).fill(wide); }}")


def table(df, show_all: bool, fixed_widths: bool = False):
    """A gr.Dataframe update showing `df` whole or only its key columns, with the column types
    (numbers sort as numbers) that go with the columns shown. A table whose cells wrap gets fixed
    column widths; the others size their columns to the content."""
    view = tables.visible(df, bool(show_all))
    return gr.Dataframe(value=tables.styled(view), datatype=tables.datatypes(view.columns),
                        column_widths=tables.widths(view.columns) if fixed_widths else [])


def new_table(columns: list[str], **kwargs: Any) -> gr.Dataframe:
    """A read-only table that says "Loading…" in its key columns until its first load."""
    view = tables.visible(tables.placeholder(columns, LOADING), False)
    widths = tables.widths(view.columns) if kwargs.get("wrap") else []
    return gr.Dataframe(tables.styled(view), datatype=tables.datatypes(view.columns),
                        column_widths=widths, interactive=False, show_label=False,
                        elem_classes=["compact-table"], **kwargs)


def show_all_box(elem_id: str) -> gr.Checkbox:
    """The "Show all columns" switch of one table."""
    return gr.Checkbox(False, label=SHOW_ALL, container=False, elem_id=elem_id,
                       elem_classes=["show-all"])
