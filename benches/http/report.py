"""Parsing and reporting for benches/http/run.sh (Python 3 standard library only).

    python3 report.py parse ROUND PEER WRK_OUTPUT >> results.tsv
        One wrk --latency output to a TSV line: round, peer, req/s, p50 ms, p99 ms, requests.
        Exits 1, saying why, when wrk saw any non-2xx/3xx answer or socket error, or nothing.
    python3 report.py table RESULTS_TSV PEER...
        The table: per peer the median req/s, p50 and p99 over the rounds, and the median of
        the per-round ratios to the first PEER (the ceiling); then doorward-bearer / naive.
"""

import re
import statistics
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}

LABELS = {
    "bare": "actix-web bare handler (ceiling)",
    "naive": "naive Rust: actix-web + jsonwebtoken",
    "express": "Express 4 + jsonwebtoken 9 (node)",
    "express-key": "Express 4 + jsonwebtoken 9, KeyObject secret",
    "dw-bearer": "doorward GET /api/me, bearer",
    "dw-cookie": "doorward GET /api/me, cookie",
    "dw-verify": "doorward GET /auth/verify, bearer",
}


def duration_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unknown duration {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse(round_no, peer, path):
    out = open(path, encoding="utf-8", errors="replace").read()
    problems = []
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if m and int(m.group(1)) > 0:
        problems.append(f"{m.group(1)} non-2xx/3xx responses")
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m and any(int(g) for g in m.groups()):
        problems.append(m.group(0))
    rps = re.search(r"Requests/sec:\s*([0-9.]+)", out)
    p50 = re.search(r"^\s*50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    if not (rps and p50 and p99 and total):
        problems.append("cannot parse wrk's output")
    elif int(total.group(1)) == 0:
        problems.append("no request completed")
    if problems:
        sys.stderr.write(f"report.py: {peer}, round {round_no}: " + "; ".join(problems) + "\n")
        sys.stderr.write(out)
        return 1
    print(
        f"{round_no}\t{peer}\t{float(rps.group(1)):.2f}\t{duration_ms(p50.group(1)):.3f}"
        f"\t{duration_ms(p99.group(1)):.3f}\t{total.group(1)}"
    )
    return 0


def table(path, peers):
    runs = {}  # (round, peer) -> (rps, p50, p99)
    for line in open(path, encoding="utf-8"):
        r, peer, rps, p50, p99, _ = line.rstrip("\n").split("\t")
        runs[(int(r), peer)] = (float(rps), float(p50), float(p99))
    rounds = sorted({r for r, _ in runs})
    ceiling = peers[0]

    def per_round(peer, col):
        return [runs[(r, peer)][col] for r in rounds]

    def ratios(num, den):
        return [runs[(r, num)][0] / runs[(r, den)][0] for r in rounds]

    lines = [
        "| peer | median req/s | median p50 | median p99 | ÷ ceiling |",
        "|---|---:|---:|---:|---:|",
    ]
    for peer in peers:
        lines.append(
            f"| {LABELS.get(peer, peer)} | {statistics.median(per_round(peer, 0)):,.0f}"
            f" | {statistics.median(per_round(peer, 1)):.2f} ms"
            f" | {statistics.median(per_round(peer, 2)):.2f} ms"
            f" | {statistics.median(ratios(peer, ceiling)):.2f} |"
        )
    lines.append("")
    if "dw-bearer" in peers and "naive" in peers:
        per = ratios("dw-bearer", "naive")
        lines.append(
            f"doorward bearer ÷ naive Rust: {statistics.median(per):.2f}"
            f" (per round: {', '.join(f'{x:.2f}' for x in per)})"
        )
    lines.append(
        f"{len(rounds)} round(s); ratios are medians of per-round ratios (each within one round)."
    )
    lines.append("")
    lines.append("req/s per round:")
    for peer in peers:
        lines.append(f"  {peer:<11} " + "  ".join(f"{x:>9,.0f}" for x in per_round(peer, 0)))
    print("\n".join(lines))
    return 0


def main(argv):
    if len(argv) == 5 and argv[1] == "parse":
        return parse(int(argv[2]), argv[3], argv[4])
    if len(argv) >= 4 and argv[1] == "table":
        return table(argv[2], argv[3:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
