"""The README's chart: warm query latency by corpus size, Verbatim against its peers.

Reads the JSON the other scripts leave in bench/results/ (run them first) and writes
bench/performance.png, with the date, machine and load of the latency run in its title. Points
from another script are drawn only when its results file is from the same day, so the chart
never mixes runs from different machines or releases.

    python bench/chart.py
"""

from __future__ import annotations

import json

from common import REPO, RESULTS, RUN_KEY

OUT = REPO / "bench" / "performance.png"


def load(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latency = load("latency")
    if RUN_KEY not in latency:
        raise SystemExit(f"{RESULTS / 'latency.json'} is missing or older than its run record; run bench/latency.py")
    run = latency[RUN_KEY]
    day = run["date"].split()[0]

    def same_run_day(name: str) -> dict:
        data = load(name)
        return data if str(data.get(RUN_KEY, {}).get("date", "")).startswith(day) else {}

    peers, ann = same_run_day("peers"), same_run_day("ann")
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    for name, label, style in (
        ("verbatim", "Verbatim (int8 ONNX, hybrid, index by size, reader)", "o-"),
        ("verbatim, no reader", "Verbatim without the reader", "d-"),
        ("baseline", "Verbatim before (torch fp32, flat, no reader)", "s--"),
    ):
        points = sorted(
            (int(k.rsplit(" ", 1)[1]), v["engine.ask end to end"]["median"])
            for k, v in latency.items()
            if k.rsplit(" ", 1)[0] == name and k.rsplit(" ", 1)[1].isdigit()
        )
        if points:
            ax.plot(*zip(*points), style, label=label + ", whole ask")
    if ann:
        dense = sorted((int(k.split()[0]), v["ms_median"]) for k, v in ann.items() if k.endswith("ivf-sq8 nprobe128"))
        flat = sorted((int(k.split()[0]), v["ms_median"]) for k, v in ann.items() if k.endswith(" flat"))
        if dense:
            ax.plot(*zip(*dense), "^:", label="FAISS IVF-SQ8 search alone (nprobe 128, Verbatim above 50k)")
        if flat:
            ax.plot(*zip(*flat), "v:", label="FAISS flat search alone")
    squad_chunks = 1580
    for name, marker in (("verbatim", "*"), ("txtai", "D"), ("langchain", "P")):
        if name in peers and name != RUN_KEY:
            ax.plot(
                [squad_chunks],
                [peers[name]["query_median_ms"]],
                marker,
                markersize=10,
                linestyle="none",
                label=f"{name} on SQuAD dev (search)" if name != "verbatim" else "Verbatim on SQuAD dev (search)",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks in the index")
    ax.set_ylabel("warm query latency, median (ms)")
    load_average = run["load_at_end"][0]
    ax.set_title(
        f"Warm query latency by corpus size\n{run['machine']}, CPU only; {run['date']}, load {load_average:.1f}",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
