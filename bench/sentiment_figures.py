"""The sentiment model's measured figures on this machine: load time through the real loading
path and inference time per batch, for a tiny local BERT (the only model that loads offline);
and the lexicon fallback for comparison.

Run: python -m bench.sentiment_figures [--repeats 50]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from ai import SentimentModel
from tests.tiny_model import build_tiny_model

TEXT = "Bitcoin rallies to a new high as ETF inflows jump and shorts get liquidated"


def timed(fn, repeats: int) -> dict:
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 2), "n": repeats}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args(argv)
    folder = build_tiny_model(Path(tempfile.mkdtemp(prefix="tiny-model-")) / "model",
                              {0: "Bearish", 1: "Neutral", 2: "Bullish"})
    model = SentimentModel(str(folder))
    start = time.perf_counter()
    model.start()
    state = model.wait(120)
    wall = time.perf_counter() - start
    status = model.status()
    model.analyze([TEXT])                                   # warm-up
    long_text = (TEXT + " ") * 27                            # ~2000 characters
    lexicon = SentimentModel("none")
    report = {
        "state": state, "parameters": status["parameters"], "memory_mb": status["memory_mb"],
        "load_time_s": status["load_time_s"], "start_to_loaded_s": round(wall, 3),
        "note": "transformers and torch are already imported here (building the model did it); "
                "in a fresh app process the first load also pays ~2 s of imports",
        "threads": status["threads"], "max_length": status["max_length"],
        "batch_1": timed(lambda: model.analyze([TEXT]), args.repeats),
        "batch_10": timed(lambda: model.analyze([TEXT] * 10), args.repeats),
        "batch_64": timed(lambda: model.analyze([TEXT] * 64), args.repeats),
        "batch_64_x_2000_chars": timed(lambda: model.analyze([long_text[:2000]] * 64),
                                       max(5, args.repeats // 5)),
        "lexicon_batch_10": timed(lambda: lexicon.analyze([TEXT] * 10), args.repeats),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
