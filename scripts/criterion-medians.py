#!/usr/bin/env python3
"""Prints `name median` for each benchmark in criterion's text output (stdin)."""
import re
import sys

name = None
for line in sys.stdin:
    m = re.match(r"^(\S+)\s+time:\s+\[(\S+ \S+) (\S+ \S+) (\S+ \S+)\]", line)
    if m:
        print(f"{m.group(1):45s} {m.group(3)}")
        continue
    m = re.match(r"^\s+time:\s+\[(\S+ \S+) (\S+ \S+) (\S+ \S+)\]", line)
    if m and name:
        print(f"{name:45s} {m.group(2)}")
        continue
    m = re.match(r"^([a-z0-9_]+/\S+)\s*$", line)
    name = m.group(1) if m else name
