"""Composition only: build the services, build the UI, mount REST, serve.

One FastAPI app holds the REST routes and /ws; the Gradio Blocks is mounted at "/" on it
(`gr.mount_gradio_app`, which takes the theme, CSS and MCP switch in Gradio 6), and uvicorn serves
the whole. So the UI, `/gradio_api/...` (gradio_client, "Use via API", MCP) and `/api/...` share
one port and one router.

    python app.py               live providers, on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (7860)
    python app.py --simulate    simulated providers on loopback, in this process
    python app.py --mcp         also serve MCP at /gradio_api/mcp (or GRADIO_MCP_SERVER=True)
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading

log = logging.getLogger("app")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Crypto market data: Gradio UI, API and REST.")
    parser.add_argument("--simulate", action="store_true",
                        help="serve from simulated providers on loopback (no network needed)")
    parser.add_argument("--mcp", action="store_true",
                        help="serve the API as an MCP server too (same as GRADIO_MCP_SERVER=True)")
    return parser.parse_args(argv)


def start_simulator():
    """The simulated providers, with every <NAME>_BASE_URL pointing at them (before the router
    reads the environment)."""
    from sim import Simulator

    sim = Simulator(latency_scale=1.0).start()
    os.environ.update(sim.env())
    log.info("Simulated providers on %s", ", ".join(sorted(sim.base_urls)))
    return sim


def build_app(*, simulated: bool, mcp_server: bool | None):
    """The FastAPI app with REST, /ws and the Gradio UI mounted; and a close() that saves the
    router's metrics and answers (safe to call twice)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")   # no phoning home at start
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")  # per-call timings Gradio keeps

    import gradio as gr
    from fastapi import FastAPI

    import ai
    import ai.news
    import routing
    import ui
    import ui.api
    import ui.rest
    from routing.service import MarketService

    router = routing.build_router()
    sentiment = ai.SentimentModel()
    demo = feed = None                             # set below; read late by queue_status

    def queue_status() -> dict:
        """Work waiting in this server: the Gradio queue and the /ws feed."""
        queue = getattr(demo, "_queue", None)      # Gradio has no public accessor for this
        return {"gradio_queue_size": len(queue) if queue is not None else None,
                **(feed.view() if feed is not None else {})}

    service = MarketService(router, ai_status=sentiment.status, queue_status=queue_status)

    def news(symbol: str, limit: int) -> dict:
        return ai.news.news_sentiment(router, sentiment, symbol, limit)

    demo = ui.build_blocks(service, sentiment, news, simulated=simulated,
                           register_api=lambda: ui.api.register(service, sentiment, news))
    closed = threading.Event()

    def close() -> None:
        if not closed.is_set():
            closed.set()
            router.close()
            saving = router.metrics.persistence.view()
            if saving["mode"] == "memory" or saving["saving"] == "failing":
                log.warning("Router closed; state not saved (%s)", saving["reason"] or
                            (saving["last_save_error"] or {}).get("error"))
            else:
                log.info("Router closed: metrics and answers saved")

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        # Loading starts once the UI is built, so importing torch does not slow that down.
        sentiment.start()
        yield
        close()                 # uvicorn's graceful shutdown, on SIGTERM or Ctrl-C

    app = FastAPI(title="Crypto market data REST API", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    feed = ui.rest.mount(app, service, sentiment)
    app = gr.mount_gradio_app(app, demo, path="/", theme=ui.THEME, css=ui.CSS, head=ui.HEAD,
                              mcp_server=mcp_server, ssr_mode=False, show_error=True)
    ui.rest.guard_gradio_calls(app)
    ui.api.keep_api_calls_stateless(app)
    ui.api.json_tool_results(demo)
    return app, close


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "httpcore", "urllib3"):     # request lines would drown the routing log
        logging.getLogger(chatty).setLevel(logging.WARNING)
    from routing.log_repeats import install
    install()                                           # a recurring error is logged once a minute

    import uvicorn

    sim = start_simulator() if args.simulate else None
    on_space = bool(os.environ.get("SPACE_ID"))
    host = os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if on_space else "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    app, close = build_app(simulated=sim is not None, mcp_server=True if args.mcp else None)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False,
        ws_max_size=64 * 1024, timeout_graceful_shutdown=5))
    log.info("Serving on http://%s:%d (%s providers)", host, port,
             "simulated" if sim else "live")
    if args.mcp or os.environ.get("GRADIO_MCP_SERVER", "").lower() == "true":
        log.info("MCP server at http://%s:%d/gradio_api/mcp/", host, port)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    try:
        server.run()
    finally:
        close()
        if sim is not None:
            sim.stop()
    if not server.started:
        raise SystemExit(f"could not serve on {host}:{port} (see the log above)")


def _exit_cleanly(signum, frame) -> None:
    """After its graceful shutdown uvicorn raises the signal again for the handler it found:
    this one ends the process with status 0 instead of dying of SIGTERM (-15) or a
    KeyboardInterrupt traceback."""
    raise SystemExit(0)


if __name__ == "__main__":
    main()
