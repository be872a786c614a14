#!/usr/bin/env python3
"""Python peers of the hegui-guard benchmark (run by `guard-bench`, never by hand in CI).

Scans the benchmark corpus (one message per line) with one PyPI keyword matcher and prints one
JSON object on stdout:

    {"peer": "pyahocorasick", "version": "2.1.0", "python": "3.11.7", "terms": 50000,
     "lines": 650000, "bytes": 100000000, "build_s": 0.41, "scan_s": [9.8, 9.7, 9.9], "hits": 123}

Only the scan loop is timed (`scan_s`, one entry per repetition); building the automaton is
timed separately (`build_s`). Reading the files is not timed. `bytes` is the UTF-8 size of the
lines without their newlines, the same count the Rust side uses for MB/s.

Peers:
  pyahocorasick  ahocorasick.Automaton, add_word + make_automaton, then `iter(line)` per line:
                 every overlapping occurrence (the same semantics as aho-corasick's
                 find_overlapping_iter, so the hit counts must agree).
  flashtext      KeywordProcessor.add_keyword, then `extract_keywords(line)` per line. flashtext
                 only matches at word boundaries and treats CJK characters as word characters,
                 so in Chinese it finds far fewer terms; its hit count is reported for that reason.

On failure it prints {"peer": ..., "error": "..."} and exits 1.
"""

import argparse
import json
import platform
import sys
import time


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def version_of(dist):
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - metadata is informative only
        return "unknown"


def run_pyahocorasick(terms, lines, reps):
    import ahocorasick

    t0 = time.perf_counter()
    automaton = ahocorasick.Automaton()
    for i, term in enumerate(terms):
        automaton.add_word(term, i)
    automaton.make_automaton()
    build_s = time.perf_counter() - t0

    scans = []
    hits = 0
    for _ in range(reps):
        n = 0
        it = automaton.iter
        t0 = time.perf_counter()
        for line in lines:
            for _hit in it(line):
                n += 1
        scans.append(time.perf_counter() - t0)
        hits = n
    return build_s, scans, hits, version_of("pyahocorasick")


def run_flashtext(terms, lines, reps):
    from flashtext import KeywordProcessor

    t0 = time.perf_counter()
    kp = KeywordProcessor()
    for term in terms:
        kp.add_keyword(term)
    build_s = time.perf_counter() - t0

    scans = []
    hits = 0
    for _ in range(reps):
        n = 0
        extract = kp.extract_keywords
        t0 = time.perf_counter()
        for line in lines:
            n += len(extract(line))
        scans.append(time.perf_counter() - t0)
        hits = n
    return build_s, scans, hits, version_of("flashtext")


PEERS = {"pyahocorasick": run_pyahocorasick, "flashtext": run_flashtext}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer", required=True, choices=sorted(PEERS))
    ap.add_argument("--terms", required=True, help="term list, one per line")
    ap.add_argument("--corpus", required=True, help="corpus, one message per line")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    try:
        terms = read_lines(args.terms)
        lines = read_lines(args.corpus)
        build_s, scans, hits, version = PEERS[args.peer](terms, lines, max(1, args.reps))
    except Exception as e:  # noqa: BLE001 - reported to the Rust side as data
        print(json.dumps({"peer": args.peer, "error": f"{type(e).__name__}: {e}"}))
        sys.stdout.flush()
        return 1
    out = {
        "peer": args.peer,
        "version": version,
        "python": platform.python_version(),
        "terms": len(terms),
        "lines": len(lines),
        "bytes": sum(len(line.encode("utf-8")) for line in lines),
        "build_s": build_s,
        "scan_s": scans,
        "hits": hits,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
