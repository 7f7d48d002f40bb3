#!/usr/bin/python3
"""Draws the plots of docs/performance.md from the tables the benchmarks wrote there.

The benchmarks (scripts/bench_*.sh --write-docs) write their figures as Markdown tables
between `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers; this script reads those tables
back, so a plot always shows the figures printed beside it, and writes SVG files into
docs/img/:

  ipam-add-del.svg   IPAM ADD+DEL time against addresses held, cnimux-ipam and host-local
                     (log scale), from the ipam-bench table
  meta-overhead.svg  the meta plugin's overhead per pod shape and verb over calling the
                     delegates directly, quiet machine, normal priority, beside the floor's
                     (cnimux-bench-floor; when the table has that column), with Multus's
                     measured +21 ms per ADD (../shared/reference/multi-net-spec.md) for scale

Runs under Debian's /usr/bin/python3, whose python3-matplotlib scripts/install-deps.sh installs.
Usage: scripts/bench_plots.py [--doc docs/performance.md] [--out docs/img]
Needs python3-matplotlib (scripts/install-deps.sh bench installs it).
"""
import argparse
import os
import re
import sys

# Multus v4.0.2 as a thin plugin over the same delegates, measured on this kind of machine:
# "adds about 21 ms per ADD over the delegates alone" (reference/multi-net-spec.md).
MULTUS_ADD_OVERHEAD_MS = 21.0


def section(doc, name):
    m = re.search(rf"<!-- {re.escape(name)}:begin.*?-->(.*?)<!-- {re.escape(name)}:end -->", doc, re.S)
    return m.group(1) if m else None


def tables(text):
    """Every Markdown table in text, as lists of cell lists (header row first, no rule row)."""
    found, cur = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                cur.append(cells)
        elif cur:
            found.append(cur)
            cur = []
    return found


def number(cell):
    m = re.search(r"[-+]?[\d,]*\.?\d+", cell.replace("**", ""))
    return float(m.group(0).replace(",", "")) if m else None


def plot_ipam(doc, out, plt):
    text = section(doc, "ipam-bench")
    rows = tables(text)[0][1:] if text and tables(text) else []
    if not rows:
        return "no ipam-bench table"
    held = [number(r[0]) for r in rows]
    ours = [number(r[1]) for r in rows]
    ref = [number(r[2]) for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(held, ref, "o-", label="host-local (reference)")
    ax.plot(held, ours, "s-", label="cnimux-ipam (SQLite)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("addresses already held in the pool")
    ax.set_ylabel("one ADD + one DEL, median (ms)")
    ax.set_title("IPAM cost against addresses held")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save(fig, out, "ipam-add-del.svg", plt)


def plot_meta(doc, out, plt):
    text = section(doc, "meta-bench")
    found = tables(text) if text else []
    if not found:
        return "no meta-bench table"
    head, rows = found[0][0], found[0][1:]  # the first table is the quiet machine's
    col = head.index("overhead")
    labels = [f"{r[0]}\n{r[1]}" for r in rows]
    values = [number(r[col].split("/")[0]) for r in rows]
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    # The floor's bars beside cnimux's, when the table has the column (tables before it do not).
    floor = [number(r[head.index("floor overhead")].split("/")[0]) for r in rows] \
        if "floor overhead" in head else None
    width = 0.4 if floor else 0.8
    xs = [x - width / 2 for x in range(len(values))] if floor else list(range(len(values)))
    bars = ax.bar(xs, values, width, color="#4c72b0", label="cnimux (median)")
    ax.bar_label(bars, labels=[f"{v:+.1f}" for v in values], padding=2, fontsize=8)
    if floor:
        fbars = ax.bar([x + width for x in xs], floor, width, color="#8c8c8c",
                       label="floor: exec + journal flushes only (median)")
        ax.bar_label(fbars, labels=[f"{v:+.1f}" for v in floor], padding=2, fontsize=8)
    shown = values + (floor or [])
    ax.axhline(MULTUS_ADD_OVERHEAD_MS, color="#c44e52", linestyle="--",
               label="Multus v4.0.2: +21 ms per ADD (measured, 2 NADs)")
    ax.axhline(2.0, color="#55a868", linestyle=":", label="target: +2 ms")
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ax.set_ylabel("overhead over calling the delegates directly (ms)")
    ax.set_title("Meta plugin overhead per pod, quiet machine, normal priority")
    ax.set_ylim(min(shown + [0]) * 1.2, max(shown + [MULTUS_ADD_OVERHEAD_MS]) * 1.2)
    ax.legend(fontsize=8, loc="upper left")
    return save(fig, out, "meta-overhead.svg", plt)


def save(fig, out, name, plt):
    fig.tight_layout()
    path = os.path.join(out, name)
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    return f"wrote {path}"


def main():
    ap = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--doc", default=os.path.join(root, "docs/performance.md"))
    ap.add_argument("--out", default=os.path.join(root, "docs/img"))
    args = ap.parse_args()
    try:
        import matplotlib
    except ImportError:
        print("bench_plots: python3-matplotlib is missing (scripts/install-deps.sh bench)", file=sys.stderr)
        return 1
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "cnimux"  # stable ids: a rerun with the same figures is no diff
    import matplotlib.pyplot as plt
    os.makedirs(args.out, exist_ok=True)
    doc = open(args.doc, encoding="utf-8").read()
    for plot in (plot_ipam, plot_meta):
        print("bench_plots: " + plot(doc, args.out, plt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
