#!/usr/bin/env python3
"""Server instructions per request of booking-redis's hold and release scripts.

Starts a scratch `redis-server` under `valgrind --tool=callgrind` (port 6390
by default; `valgrind` and `redis-server` on PATH), loads the scripts as
`crates/booking-redis/src/scripts.rs` assembles them from `lua/`, and counts
the instructions the server runs for:

- `hold`, `release`: the single scripts, M requests pipelined;
- `hold_batch`, `release_batch`: one batch script call of M requests;
- `hand hold`, `hand release`: the hand-written `SET NX PX` script and
  compare-and-delete release of `benches/hold_release.rs`, M pipelined;
- `hand hold_batch`, `hand release_batch`: the same two scripts written to
  decide all M requests in one call (what a team would write to batch).

Each request holds WIDTH seats of its own, for an owner of its own, under
the server's clock. A count is the server's whole work for the requests
(reading them, running the scripts, the commands they call, replying),
divided by M: unlike wall-clock time it does not depend on the machine's
load. Rounds after the first are measured; medians are printed.

    python3 scripts/redis-instructions.py                 # M=50 WIDTH=1 LIMIT=8
    M=25 WIDTH=4 python3 scripts/redis-instructions.py
    LIMIT=none python3 scripts/redis-instructions.py      # no per-owner limit
    LUA=/path/to/lua python3 scripts/redis-instructions.py  # other scripts

Environment: M (requests, default 50), WIDTH (seats per request, 1),
LIMIT (per-owner held limit, 8, or none), ROUNDS (4), PORT (6390).
"""
import glob
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATE = os.path.join(ROOT, "crates", "booking-redis")
LUA = os.environ.get("LUA", os.path.join(CRATE, "lua"))
M = int(os.environ.get("M", "50"))
WIDTH = int(os.environ.get("WIDTH", "1"))
LIMIT = os.environ.get("LIMIT", "8")
ROUNDS = int(os.environ.get("ROUNDS", "4"))
PORT = int(os.environ.get("PORT", "6390"))

HAND_HOLD = """
for i, k in ipairs(KEYS) do
  if not redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[2]) then
    for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
    return 0
  end
end
return 1
"""
HAND_RELEASE = """
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k); n = n + 1 end
end
return n
"""

# The hand-written scripts deciding many requests in one call: KEYS are
# every request's WIDTH seat keys in turn, ARGV the lifetime (hold only),
# WIDTH and one owner per request; one reply per request.
HAND_HOLD_BATCH = """
local w = tonumber(ARGV[2])
local out = {}
for r = 1, #ARGV - 2 do
  local owner, ok = ARGV[2 + r], 1
  for j = 1, w do
    if not redis.call('SET', KEYS[(r - 1) * w + j], owner, 'NX', 'PX', ARGV[1]) then
      for i = 1, j - 1 do redis.call('DEL', KEYS[(r - 1) * w + i]) end
      ok = 0
      break
    end
  end
  out[r] = ok
end
return out
"""
HAND_RELEASE_BATCH = """
local w = tonumber(ARGV[1])
local out = {}
for r = 1, #ARGV - 1 do
  local owner, n = ARGV[1 + r], 0
  for j = 1, w do
    local k = KEYS[(r - 1) * w + j]
    if redis.call('GET', k) == owner then redis.call('DEL', k); n = n + 1 end
  end
  out[r] = n
end
return out
"""


class Resp:
    """A minimal RESP client: enough for pipelined commands and replies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)

    def pipe(self, commands):
        self.sock.sendall(b"".join(self.encode(c) for c in commands))
        return [self.read() for _ in commands]

    def cmd(self, *args):
        return self.pipe([list(args)])[0]


def script(name):
    """A script's full source, as scripts.rs assembles it."""
    table = open(os.path.join(CRATE, "src", "scripts.rs")).read()
    for const, parts, file in re.findall(r'(\w+) => \[([^\]]*)\] "([^"]+)";', table):
        if file == name:
            files = re.findall(r'"([^"]+)"', parts) + [file]
            return "".join(open(os.path.join(LUA, f)).read() for f in files)
    raise SystemExit("no script %s in scripts.rs" % name)


def main():
    for tool in ("valgrind", "redis-server", "callgrind_control"):
        if not shutil.which(tool):
            raise SystemExit("%s is not on PATH" % tool)
    out_dir = tempfile.mkdtemp(prefix="redis-callgrind-")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s/cg.%%p" % out_dir,
         "redis-server", "--port", str(PORT), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                r = Resp(PORT)
                r.cmd("PING")
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit("the server did not start")
        run(r, server.pid, out_dir)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(out_dir, ignore_errors=True)


def run(r, pid, out_dir):
    def callgrind(*args):
        subprocess.run(["callgrind_control", *args, str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)

    def last_dump():
        files = sorted(glob.glob("%s/cg.%d.*" % (out_dir, pid)), key=lambda f: int(f.rsplit(".", 1)[1]))
        for line in open(files[-1]):
            if line.startswith("summary:"):
                return int(line.split()[1])
        raise RuntimeError("no summary in " + files[-1])

    sha = {name: r.cmd("SCRIPT", "LOAD", script(name)) for name in
           ("create.lua", "hold.lua", "release.lua", "hold_batch.lua", "release_batch.lua")}
    hand_hold, hand_release = r.cmd("SCRIPT", "LOAD", HAND_HOLD), r.cmd("SCRIPT", "LOAD", HAND_RELEASE)
    hand_hold_batch = r.cmd("SCRIPT", "LOAD", HAND_HOLD_BATCH)
    hand_release_batch = r.cmd("SCRIPT", "LOAD", HAND_RELEASE_BATCH)
    show = uuid.uuid4().hex
    base = "instr:{%s}:" % show

    def k(name):
        return base + name

    created = r.cmd("EVALSHA", sha["create.lua"], 4, k("meta"), k("pools"), k("seats"), k("free"), "{}", M * WIDTH)
    assert created[0] == "OK", created
    owners = [uuid.uuid4().hex for _ in range(M)]
    seats = [[str(p * WIDTH + j) for j in range(WIDTH)] for p in range(M)]
    counts = {}

    def measure(name, commands, measured):
        if measured:
            callgrind("-z")
        replies = r.pipe(commands)
        if measured:
            callgrind("-d")
            counts.setdefault(name, []).append(last_dump() / M)
        return replies

    def ok(replies):
        for x in replies:
            assert x[0] == "OK", x

    for round_ in range(ROUNDS):
        measured = round_ > 0
        holds = [uuid.uuid4().hex for _ in range(M)]
        args = ["EVALSHA", sha["hold_batch.lua"], 7 + M, k("meta"), k("seats"), k("sexp"), k("pholds"), k("feed"),
                k("free"), k("osold")] + [k("own:" + o) for o in owners]
        args += [600000, 1800000, LIMIT + ",none", 10000, 1800000, M]
        for p in range(M):
            args += ["store", owners[p], holds[p], WIDTH] + seats[p]
        granted = measure("hold_batch", [args], measured)[0]
        ok(granted)
        args = ["EVALSHA", sha["release_batch.lua"], 5, k("meta"), k("seats"), k("sexp"), k("feed"), k("free"), 10000, M]
        for p in range(M):
            args += ["store", owners[p], holds[p], granted[p][1], WIDTH] + seats[p]
        ok(measure("release_batch", [args], measured)[0])

        holds = [uuid.uuid4().hex for _ in range(M)]
        granted = measure("hold", [
            ["EVALSHA", sha["hold.lua"], 8, k("meta"), k("seats"), k("sexp"), k("own:" + owners[p]), k("pholds"),
             k("feed"), k("free"), k("osold"), "store", owners[p], holds[p], 600000, 1800000, LIMIT + ",none", 10000,
             1800000] + seats[p] for p in range(M)], measured)
        ok(granted)
        ok(measure("release", [
            ["EVALSHA", sha["release.lua"], 5, k("meta"), k("seats"), k("sexp"), k("feed"), k("free"), "store",
             owners[p], holds[p], granted[p][1], 10000] + seats[p] for p in range(M)], measured))

        keys = [["hand:{%s}:%s" % (show, s) for s in seats[p]] for p in range(M)]
        held = measure("hand hold", [["EVALSHA", hand_hold, WIDTH] + keys[p] + [owners[p], 600000]
                                     for p in range(M)], measured)
        assert all(x == 1 for x in held), held
        measure("hand release", [["EVALSHA", hand_release, WIDTH] + keys[p] + [owners[p]] for p in range(M)], measured)

        every_key = [key for p in range(M) for key in keys[p]]
        held = measure("hand hold_batch", [["EVALSHA", hand_hold_batch, M * WIDTH] + every_key
                                           + [600000, WIDTH] + owners], measured)[0]
        assert held == [1] * M, held
        freed = measure("hand release_batch", [["EVALSHA", hand_release_batch, M * WIDTH] + every_key
                                               + [WIDTH] + owners], measured)[0]
        assert freed == [WIDTH] * M, freed

    print("M=%d WIDTH=%d LIMIT=%s, server instructions per request (median of %d rounds):"
          % (M, WIDTH, LIMIT, ROUNDS - 1))
    for name in ("hold", "release", "hold_batch", "release_batch", "hand hold", "hand release", "hand hold_batch",
                 "hand release_batch"):
        print("  %-18s %8.0f" % (name, statistics.median(counts[name])))


if __name__ == "__main__":
    sys.exit(main())
