"""Put the figures of a later partial ``bench/run --only ...`` in place of a full run's, and write RESULTS.md.

For a measure that had to be run again (its measuring code was fixed after the full run): the
full run's raw JSON keeps every other measure; each measure named is taken whole from the partial
run's JSON, and RESULTS.md says which and why (``meta["amended"]``).  The merged figures are saved
as a raw JSON of their own beside the two.

    .venv/bin/python bench/merge.py FULL.json PARTIAL.json --measures browser --why "..."
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH)]

from sidebyside import report  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("full", type=Path)
    parser.add_argument("partial", type=Path)
    parser.add_argument("--measures", nargs="+", required=True)
    parser.add_argument("--why", required=True, help="the reason, said in RESULTS.md")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md")
    args = parser.parse_args()
    full, partial = json.loads(args.full.read_text()), json.loads(args.partial.read_text())
    for measure in args.measures:
        if measure not in partial:
            parser.error(f"{args.partial} has no {measure!r} figures")
        full[measure] = partial[measure]
    meta = full["meta"]
    words = partial["meta"]["command"].split()
    command = " ".join(w for i, w in enumerate(words) if w != "--output" and (i == 0 or words[i - 1] != "--output"))
    meta.setdefault("amended", []).append(
        f"{', '.join(args.measures).capitalize()}: from `{command}` on {partial['meta']['date']} "
        f"(load average {partial['meta']['load_start']} at its start), in place of this run's: {args.why}")
    merged = args.full.with_name(args.full.stem + "-merged.json")
    merged.write_text(json.dumps(full, indent=1, default=str))
    args.output.write_text(report.render(full, merged.resolve().relative_to(ROOT)))
    print(f"wrote {args.output} and {merged}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
