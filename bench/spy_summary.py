#!/usr/bin/env python
"""Summarise py-spy `raw` (collapsed stack) files written by pos_bench.py --py-spy.

    python bench/spy_summary.py /tmp/pos-bench-XXXX/purchase-*.txt [--top 25]

Prints the share of samples by function: self (the sampled frame itself) and
inclusive (anywhere on the stack, counted once per sample), plus a few
buckets that map onto the layers of the request path.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")

# layer -> fragments of a frame ("function (path)"); first match from the top
# of the stack wins, so more specific layers come first.
BUCKETS = [
    ("asyncpg (protocol, pool reset)", ("asyncpg/",)),
    ("tortoise ORM / client", ("tortoise/", "pypika")),
    ("JWT decode", ("jwt/",)),
    ("json encode/decode", ("json/",)),
    ("graphql-core execute/validate/parse", ("graphql/",)),
    ("strawberry", ("strawberry/",)),
    ("starlette / middleware", ("starlette/",)),
    ("uvicorn / httptools", ("uvicorn/",)),
    ("service code (api, loyalty, wallet)", ("(api/", "(loyalty/", "(wallet/", " api/",
                                             " loyalty/", " wallet/")),
]


def frame_name(frame: str) -> str:
    return _LINE.sub(")", frame.strip())


def load(paths: list[Path]) -> list[tuple[list[str], int]]:
    stacks = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


def bucket_of(frames: list[str]) -> str:
    for frame in reversed(frames):  # innermost first
        for name, fragments in BUCKETS:
            if any(f in frame for f in fragments):
                return name
    return "other (asyncio, stdlib, C)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    stacks = load(args.files)
    total = sum(c for _, c in stacks) or 1
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    for frames, count in stacks:
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
        layers[bucket_of(frames)] += count
    print(f"{total} samples in {len(args.files)} file(s)\n")
    print("by layer (innermost frame's package):")
    for name, c in layers.most_common():
        print(f"  {100 * c / total:5.1f}%  {name}")
    print(f"\ntop {args.top} self:")
    for name, c in own.most_common(args.top):
        print(f"  {100 * c / total:5.1f}%  {name}")
    print(f"\ntop {args.top} inclusive:")
    for name, c in incl.most_common(args.top):
        print(f"  {100 * c / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
