"""Side-by-side benchmark: trionet on each backend next to the shared anchors.

Runs the shared harness (``../shared/bench/run.py``, relative to the repository
root) with ``benchmarks/server.py`` on trio, asyncio and uvloop beside the
anchor servers (C, Node, raw Trio, anyio on Trio, asyncio and uvloop
Protocols), in one interleaved run, then writes ``docs/performance.md``: the
tables, the issue's targets (met or missed), the exact command, the machine,
the micro-benchmarks, and where the time goes (a py-spy profile of echo with
50 connections on each backend).

Usage::

    python benchmarks/compare.py                  # full: 3 rounds, ~15 min
    python benchmarks/compare.py --rounds 1 --tests echo50,connect --no-profile
    python benchmarks/compare.py --from-json benchmarks/results/compare.json  # re-render only

Called by ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import importlib.metadata
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench"))
RUN_PY = os.path.join(BENCH, "run.py")
ANCHORS = ["c", "node", "trio", "anyio-trio", "asyncio-proto", "uvloop-proto"]
BACKENDS = ["trio", "asyncio", "uvloop"]
BASE_TESTS = ["echo1", "echo50", "sink", "source", "connect", "idle"]

# (trionet backend, reference server, test, figure, comparison, bound)
# figure "value": the test's own figure (throughput; KiB/conn for idle);
# "cpu": server CPU time per operation (lower is better, so the ratio must be <= bound).
TARGETS: list[tuple[str, str, str, str, str, float]] = [
    ("trio", "anyio-trio", "echo50", "value", ">=", 1.10),
    ("trio", "anyio-trio", "http", "value", ">=", 1.10),
    ("trio", "anyio-trio", "connect", "value", ">=", 1.6),
    ("trio", "anyio-trio", "sink", "value", ">=", 1.0),
    ("trio", "anyio-trio", "source", "value", ">=", 1.0),
    ("trio", "trio", "idle", "value", "<=", 1.0),
    ("uvloop", "node", "echo50", "cpu", "<=", 0.9),
    ("uvloop", "node", "http", "cpu", "<=", 0.9),
    ("uvloop", "node", "connect", "value", ">=", 1.2),
    ("uvloop", "node", "sink", "value", ">=", 0.9),
    ("uvloop", "node", "source", "value", ">=", 0.9),
    ("uvloop", "node", "idle", "value", "<=", 0.5),
    ("asyncio", "asyncio-proto", "echo50", "value", ">=", 0.9),
    ("asyncio", "asyncio-proto", "connect", "value", ">=", 0.9),
]

UNITS = {
    "echo1": "req/s",
    "echo50": "req/s",
    "sink": "MB/s",
    "source": "MB/s",
    "connect": "conn/s",
    "idle": "KiB/conn",
    "http": "req/s",
}
TITLES = {
    "echo1": "echo C=1",
    "echo50": "echo C=50",
    "sink": "sink",
    "source": "source",
    "connect": "connect",
    "idle": "idle",
    "http": "wrk http",
}


def server_template(backend: str) -> str:
    script = os.path.join(HERE, "server.py")
    return f"{{python}} {script} --mode {{mode}} --port {{port}} --backend {backend}"


# -- running the harness ------------------------------------------------------------------


def run_harness(args: argparse.Namespace, json_path: str, md_path: str) -> list[str]:
    if not os.path.exists(RUN_PY):
        sys.exit(
            f"compare.py: the shared benchmark harness is missing: {RUN_PY} not found.\n"
            "It lives beside the repository (../shared/bench, see its README.md); "
            "check it out there, or run from a tree that has it."
        )
    runner = shutil.which("python3") or sys.executable
    cmd = [
        runner,
        RUN_PY,
        "--python",
        sys.executable,
        "--servers",
        args.servers,
        *[f"--server=trionet-{b}={server_template(b)}" for b in BACKENDS],
        "--tests",
        args.tests,
        "--rounds",
        str(args.rounds),
        "--duration",
        f"{args.duration:g}",
        "--ref",
        "anyio-trio",
        "--also-ref",
        "node,asyncio-proto,trio,c",
        "--json",
        json_path,
        "--md",
        md_path,
    ]
    print("+ " + shlex.join(cmd), flush=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    rc = subprocess.run(cmd, env=env).returncode
    if rc != 0:
        sys.exit(f"compare.py: run.py failed with exit status {rc}")
    return cmd


# -- reading the results ------------------------------------------------------------------


def per_round(records: list[dict[str, Any]], test: str, server: str, key: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for rec in records:
        if rec["test"] == test and rec["server"] == server and rec.get("value") is not None:
            value = rec.get(key)
            if value is not None:
                out[rec["round"]] = float(value)
    return out


def paired(records: list[dict[str, Any]], test: str, a: str, b: str, key: str) -> float | None:
    """Median over rounds of a/b, both measured in the same round (run.py's paired ratio)."""
    va, vb = per_round(records, test, a, key), per_round(records, test, b, key)
    ratios = [va[r] / vb[r] for r in va if vb.get(r)]
    return statistics.median(ratios) if ratios else None


def median_of(records: list[dict[str, Any]], test: str, server: str, key: str) -> float | None:
    values = list(per_round(records, test, server, key).values())
    return statistics.median(values) if values else None


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1e5:
        return f"{v / 1000:.0f}k"
    if abs(v) >= 1e4:
        return f"{v / 1000:.1f}k"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def summary_tables(data: dict[str, Any]) -> str:
    records = data["records"]
    servers = list(data["servers"])
    tests = [t for t in data["config"]["tests"].split(",") if t]
    out = []
    head = "| server | " + " | ".join(f"{TITLES[t]} {UNITS[t]}" for t in tests) + " |"
    out.append(head)
    out.append("|---|" + "---:|" * len(tests))
    for s in servers:
        cells = []
        for t in tests:
            v = median_of(records, t, s, "value")
            x = paired(records, t, s, "node", "value") if "node" in servers else None
            cells.append(f"{fmt(v)} ({x:.2f})" if v is not None and x is not None else fmt(v))
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(
        "Medians over rounds; in brackets the paired ratio to Node (> 1 = better, "
        "except idle, where < 1 = less memory)."
    )
    cpu_tests = [t for t in tests if t != "idle"]
    out.append("")
    out.append(
        "Server CPU time per operation (µs per request, per connection or per MB; lower is better):"
    )
    out.append("")
    out.append("| server | " + " | ".join(TITLES[t] for t in cpu_tests) + " |")
    out.append("|---|" + "---:|" * len(cpu_tests))
    for s in servers:
        cells = [fmt(median_of(records, t, s, "srv_cpu_us_per_op")) for t in cpu_tests]
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Load generator CPU % (about 100 = the client, not the server, is the ceiling):")
    out.append("")
    out.append("| server | " + " | ".join(TITLES[t] for t in cpu_tests) + " |")
    out.append("|---|" + "---:|" * len(cpu_tests))
    for s in servers:
        cells = [fmt(median_of(records, t, s, "lg_cpu_pct")) for t in cpu_tests]
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def targets_table(data: dict[str, Any], micro: dict[str, float]) -> tuple[str, list[str]]:
    records = data["records"]
    servers = list(data["servers"])
    tests = [t for t in data["config"]["tests"].split(",") if t]
    out = ["| target | measured (paired median) | |", "|---|---:|---|"]
    missed = []
    for backend, ref, test, figure, op, bound in TARGETS:
        name = f"trionet-{backend}"
        what = "server CPU/op" if figure == "cpu" else UNITS[test]
        label = f"{backend}: {test} {what} vs {ref} {op} {bound:g}x"
        if test not in tests or name not in servers or ref not in servers:
            out.append(f"| {label} | not run | |")
            continue
        key = "srv_cpu_us_per_op" if figure == "cpu" else "value"
        ratio = paired(records, test, name, ref, key)
        if ratio is None:
            out.append(f"| {label} | - | failed |")
            missed.append(label)
            continue
        ok = ratio >= bound if op == ">=" else ratio <= bound
        if not ok:
            missed.append(label)
        out.append(f"| {label} | {ratio:.2f}x | {'met' if ok else '**missed**'} |")
    emit = micro.get("EventEmitter.emit -> 1 plain listener")
    if emit is not None:
        ok = emit < 0.5
        verdict = "met" if ok else "**missed**"
        out.append(f"| emit to one plain listener < 0.5 µs | {emit:.3f} µs | {verdict} |")
        if not ok:
            missed.append("emit < 0.5 µs")
    tasks = micro.get("asyncio: tasks per idle connection")
    if tasks is not None:
        ok = tasks == 0
        out.append(
            f"| an idle connection holds no task on asyncio | {tasks:g} tasks/conn | "
            f"{'met' if ok else '**missed**'} |"
        )
    return "\n".join(out), missed


# -- profiles -----------------------------------------------------------------------------


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0] if ":" in where else where
    for marker in ("site-packages/", "/lib/python3", "benchmarks/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                path = path.split("/", 1)[1] if "/" in path else path
            break
    return f"{name} ({path})" if path else name


def _layer(frame: str) -> str:
    """Which layer a leaf frame belongs to (py-spy names files relative to sys.path)."""
    where = frame.partition(" (")[2]
    path = "/" + where.rstrip(")").rsplit(":", 1)[0]
    if "/trionet/" in path:
        return "trionet"
    if path.endswith("/server.py"):
        return "the server's listeners (benchmarks/server.py)"
    if any(f"/{lib}/" in path for lib in ("trio", "outcome", "sniffio")):
        return "trio's scheduler and I/O manager"
    if "/anyio/" in path:
        return "anyio"
    if "/asyncio/" in path or "/selectors.py" in path:
        return "asyncio's event loop (Python)"
    if "libc" in path:
        return "system calls and libc (kernel time included)"
    if path.endswith((".c", ".h")):
        return "C code (uvloop/libuv, CPython)"
    return "other Python"


def profile_backend(backend: str, seconds: float, native: bool) -> dict[str, Any] | None:
    py_spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(py_spy):
        return None
    loadgen = os.path.join(BENCH, "loadgen")
    if not os.path.exists(loadgen):
        subprocess.run(["make", "-s", "-C", BENCH], stdout=subprocess.DEVNULL, check=False)
    port = random.randint(20000, 40000)
    server_cmd = [
        sys.executable,
        os.path.join(HERE, "server.py"),
        "--mode",
        "echo",
        "--port",
        str(port),
        "--backend",
        backend,
    ]
    pin0 = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    pin1 = ["taskset", "-c", "1"] if shutil.which("taskset") else []
    server = subprocess.Popen(pin0 + server_cmd, stdout=subprocess.PIPE, text=True)
    raw = tempfile.mktemp(suffix=".txt", prefix=f"pyspy-{backend}-")
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "READY":
            return None
        target = f"127.0.0.1:{port}"
        warm = [*pin1, loadgen, "echo", target, "-c", "50", "-d", "0.3", "-w", "0"]
        subprocess.run(warm, stdout=subprocess.DEVNULL, check=False)
        spy_cmd = [py_spy, "record", "-r", "1000", "-f", "raw", "-o", raw]
        spy_cmd += ["-p", str(server.pid), "-d", f"{seconds:g}"]
        if native:
            spy_cmd.append("--native")
        spy = subprocess.Popen(
            spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        load = [*pin1, loadgen, "echo", target, "-c", "50", "-d", f"{seconds + 0.5:g}", "-w", "0"]
        subprocess.run(load, stdout=subprocess.DEVNULL, check=False)
        _, err = spy.communicate(timeout=60)
        if spy.returncode != 0 or not os.path.exists(raw):
            if native:
                return profile_backend(backend, seconds, native=False)
            print(f"py-spy failed on {backend}: {err.strip()[-300:]}", file=sys.stderr)
            return None
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    total = 0
    with open(raw) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            self_time[_short(frames[-1])] += n
            layers[_layer(frames[-1])] += n
            for frame in {_short(fr) for fr in frames}:
                inclusive[frame] += n
    os.unlink(raw)
    return {
        "total": total,
        "native": native,
        "self": self_time.most_common(12),
        "inclusive": inclusive.most_common(40),
        "layers": layers.most_common(),
    }


def profile_markdown(profiles: dict[str, dict[str, Any] | None], seconds: float) -> str:
    out = []
    for backend, prof in profiles.items():
        out.append(f"\n### trionet on {backend}\n")
        if prof is None or not prof["total"]:
            out.append("(no profile: py-spy is not installed or could not attach)")
            continue
        total = prof["total"]
        kind = "with native frames" if prof["native"] else "Python frames only"
        out.append(f"{total} samples over {seconds:g} s ({kind}).\n")
        out.append("Where the samples end (self time, by layer):\n")
        out.append("| layer | share |")
        out.append("|---|---:|")
        for layer, n in prof["layers"]:
            out.append(f"| {layer} | {100 * n / total:.1f} % |")
        out.append("\nTop functions by self time:\n")
        out.append("| function | self |")
        out.append("|---|---:|")
        for name, n in prof["self"]:
            out.append(f"| `{name}` | {100 * n / total:.1f} % |")
        keep = [
            (name, n)
            for name, n in prof["inclusive"]
            if ("trionet/" in name or "server.py" in name)
            and not name.startswith(("run ", "main ", "<module> "))
        ][:10]
        if keep:
            out.append("\ntrionet's frames, inclusive time (the call and everything under it):\n")
            out.append("| function | inclusive |")
            out.append("|---|---:|")
            for name, n in keep:
                out.append(f"| `{name}` | {100 * n / total:.1f} % |")
    return "\n".join(out)


# -- micro-benchmarks ---------------------------------------------------------------------


def run_micro() -> tuple[str, dict[str, float]]:
    cmd = [sys.executable, os.path.join(HERE, "micro.py"), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"(micro.py failed: {proc.stderr.strip()[-500:]})", {}
    result = json.loads(proc.stdout)
    values: dict[str, float] = {}
    lines = ["| backend | operation | µs/op |", "|---|---|---:|"]
    for backend, name, us in result["rows"]:
        lines.append(f"| {backend} | {name} | {us:.3f} |")
        if backend == "-":
            values[name] = us
    for backend, n in result.get("tasks_per_idle_connection", {}).items():
        values[f"{backend}: tasks per idle connection"] = n
    if result.get("tasks_per_idle_connection"):
        lines.append("")
        lines.append(
            "Tasks held per idle connection (server side, measured with 50 idle connections):"
        )
        lines.append("")
        lines.append("| backend | tasks per idle connection |")
        lines.append("|---|---:|")
        for backend, n in result["tasks_per_idle_connection"].items():
            lines.append(f"| {backend} | {n:g} |")
    return "\n".join(lines), values


# -- instruction counts -------------------------------------------------------------------

INSTR_SERVERS = [
    ("asyncio-proto", ["{bench}/py_servers.py", "--impl", "asyncio-proto"]),
    ("trionet-asyncio", ["{here}/server.py", "--backend", "asyncio"]),
    ("uvloop-proto", ["{bench}/py_servers.py", "--impl", "uvloop-proto"]),
    ("trionet-uvloop", ["{here}/server.py", "--backend", "uvloop"]),
    ("anyio-trio", ["{bench}/py_servers.py", "--impl", "anyio-trio"]),
    ("trionet-trio", ["{here}/server.py", "--backend", "trio"]),
]


def _count_run(argv: list[str], test: list[str], seconds: float) -> tuple[int, int] | None:
    """(user-space instructions of the whole server process, operations the loadgen did)."""
    port = 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    cmd += [sys.executable, *argv, "--mode", "echo", "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "READY":
            return None
        loadgen = os.path.join(BENCH, "loadgen")
        argv_lg = [
            loadgen,
            test[0],
            f"127.0.0.1:{port}",
            *test[1:],
            "-d",
            f"{seconds:g}",
            "-w",
            "0",
        ]
        out = subprocess.run(argv_lg, capture_output=True, text=True, check=False).stdout
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=120)
    fields = dict(f.split("=", 1) for f in out.split()[1:] if "=" in f)
    refs = [line for line in err.splitlines() if "I" in line and "refs:" in line]
    if not refs or "total_ops" not in fields:
        return None
    return int(refs[-1].split()[-1].replace(",", "")), int(fields["total_ops"])


def instruction_counts() -> dict[str, dict[str, float]] | None:
    """User-space instructions per echo request and per connection, under valgrind.

    Deterministic where timings on a shared machine are not: the difference of
    two runs of different lengths, divided by the difference in operations,
    cancels start-up. Kernel time (the system calls themselves) is not counted.
    """
    if not shutil.which("valgrind"):
        return None
    tests = {
        "echo50": (["echo", "-c", "50"], 2.0, 6.0),
        "connect": (["connect", "-c", "4"], 3.0, 9.0),
    }
    results: dict[str, dict[str, float]] = {}

    def one(name: str, argv: list[str], test: str) -> None:
        spec, short, long = tests[test]
        for _ in range(2):  # once more if a run failed or the longer one did less
            a, b = _count_run(argv, spec, short), _count_run(argv, spec, long)
            if a and b and b[1] > 1.5 * a[1]:
                results.setdefault(name, {})[test] = (b[0] - a[0]) / (b[1] - a[1])
                return

    jobs = []
    for name, template in INSTR_SERVERS:
        argv = [arg.format(bench=BENCH, here=HERE) for arg in template]
        for test in tests:
            jobs.append(threading.Thread(target=one, args=(name, argv, test)))
    for i in range(0, len(jobs), 2):  # two at a time: one per core
        for job in jobs[i : i + 2]:
            job.start()
        for job in jobs[i : i + 2]:
            job.join()
    return results


def instructions_markdown(counts: dict[str, dict[str, float]] | None) -> str:
    if not counts:
        return "(not measured: valgrind is not installed, or --no-instructions)"
    out = [
        "| server | instructions per echo request (C=50) | instructions per connection |",
        "|---|---:|---:|",
    ]
    for name, _ in INSTR_SERVERS:
        row = counts.get(name, {})
        echo = row.get("echo50")
        conn = row.get("connect")
        out.append(
            f"| {name} | {f'{echo:,.0f}' if echo else '-'} | {f'{conn:,.0f}' if conn else '-'} |"
        )
    return "\n".join(out)


# -- the machine --------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    node = "not installed"
    if shutil.which("node"):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return [
        f"- nproc: {os.cpu_count()}; CPU: {cpu}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- trio {version('trio')}, anyio {version('anyio')}, uvloop {version('uvloop')}, "
        f"trionet {version('trionet')}; Node {node}",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}",
    ]


# -- the page -----------------------------------------------------------------------------


DESIGN_NOTES = """\
- **trio and asyncio: one epoll set per server, nothing per connection.** A
  server's listening socket and every connection it accepted share one
  level-triggered `epoll` set. On trio one task waits for that set with
  `trio.lowlevel.wait_readable`; on asyncio's selector loop the set's fd is
  the only thing the loop watches (one `add_reader`). Either way the set is
  then polled and every ready socket served in turn (accept; `recv` then
  `'data'`; flush queued writes): libuv's loop inside the backend's, the same
  code on both (`trionet/_transport/_reactor.py`). Per read that saves a task
  switch and trio's one-shot `epoll_ctl` re-arm, or asyncio's per-event
  handle and four transport frames; per connection it saves a task (trio) or
  an accept Task, a transport and a selector registration (asyncio), which is
  what decides the connect rate and idle memory. A read that fills the 64 KiB
  buffer is followed by another at once (up to 16), as libuv does. Client
  connections share one such set per task group (trio) or scope (asyncio).
  Without `epoll` (macOS, Windows) trio falls back to a reader task per
  connection and asyncio to the loop's own transports.
- **Writes go to the kernel synchronously** (`send` on the non-blocking
  socket on trio and asyncio; uvloop's transport `write`, which tries the send
  at once); only what the kernel refuses is queued, and only then is the
  socket watched for writability (or `pause_writing` raised on uvloop, whose
  write-buffer limits are 0/0).
- **uvloop: the loop calls the handle directly.** The protocol adapter's
  `data_received` *is* the Socket's bound method (uvloop caches it: the
  adapter re-registers itself once the Socket exists), so a read costs one
  Python call before the listener; uvloop reads into one loop-wide buffer. No
  task and no buffer per connection.
- **A connection is small and cheap to set up:** an accepted `Socket` is
  made by one constructor that sets its fields directly, listeners are added
  without the generic path when nothing else is needed, and the close sequence
  calls only what has a listener or a waiter (about 50 Python calls per
  connection on uvloop); `Socket` has `__slots__`
  and makes its queues on first use (an empty deque is 760 B); addresses are
  read from the kernel when first asked for, as Node does; the engine says
  what TCP_NODELAY it left (uvloop turns it on), so a setsockopt happens only
  when that differs from what the socket wants; whether a listener is `async`
  is decided from its code flags, not `inspect`.
- **The Socket's hot paths are short:** `write(bytes)` without a callback
  skips validation and goes straight to the engine; `data_received` calls the
  `'data'` listeners itself (a plain loop: `emit(event, *args)` costs a C-level
  call per listener).
- **Failures are seen when they happen:** a send that fails inside asyncio's
  or uvloop's `write()` is reported by the loop one iteration later; trionet
  notices it at once (asyncio's `_fatal_error`, or `is_closing()` after a
  uvloop write), so `write()` returns false and a write loop stops, as in
  Node (before, such a loop never ended).
"""

# Why a target can miss, with the evidence measured while building this
# (see the instruction counts and profiles above for the current figures).
MISS_NOTES = {
    "uvloop: idle KiB/conn": """\
Per idle connection on uvloop, Python allocations are ~2.8 KB (`tracemalloc`,
2000 connections): uvloop's transport ~1.0 KB, the slotted `Socket` ~0.6 KB,
the benchmark's two listener closures ~0.35 KB, the adapter, its bound
`data_received`, the listener dict and tuples, and the scope's and server's
sets the rest; uvloop's Protocol server holds 1.26 KiB in all. Further cuts:
the rarely used per-connection fields (timer, events for the anyio face,
address caches) in one lazily made object.""",
    "uvloop: connect conn/s": """\
uvloop's own Protocol server spends ~26k user-space instructions per
connection, trionet on uvloop ~84k (valgrind table above), down from ~230k
at the start of this work and ~110k before the accepted-socket constructor,
the `on()` fast path and the shorter close path (the shutdown trionet does
itself, so that a reset peer is reported as Node does, costs ~7k). What is left is Node's
semantics in Python (~50 calls from accept to `'close'`, one loop tick for
`'finish'`) and the garbage collector: a listener closure that refers to its
socket makes a reference cycle, freed by the collector rather than on
`'close'`. Further cuts: the rarely used per-connection fields in one lazily
made object (fewer slots to set and to traverse). This test moves the most
with other load on the machine.""",
    "trio: connect conn/s": """\
The connect test is the most sensitive to other load on the machine. The
engine's own per-connection work is small (no task per connection: one
`epoll_ctl` to add the socket and one to remove it); most of trionet's
user-space instructions per connection are the `Socket` and its events, the
same Python work as on the other engines (see the uvloop connect note).""",
    "asyncio: connect conn/s": """\
trionet serves asyncio's selector loop with its own epoll set (no Task,
transport or selector registration per connection): ~130-165k user-space
instructions per connection against the Protocol server's ~250-285k
(valgrind table above). A miss here is the machine's load: see the CPU per connection
column.""",
    "asyncio: echo50 req/s": """\
Per request trionet runs ~12.8k user-space instructions, the Protocol server
~15.4k (valgrind table above); the nested epoll set costs the kernel about
what it saves in user space, so the two spend about the same CPU per request
(13.6 vs 13.8 µs in a paired run on 2026-11-26). The anchor's throughput
swings from run to run (it reads 256 KiB per `recv`, above glibc's mmap
threshold in a fresh process: 63k-103k req/s within one run); compare the
CPU per request column.""",
    "uvloop: echo50 server CPU/op": """\
trionet adds ~4.7k user-space instructions per request over uvloop's Protocol
server (3.4k): the same three Python frames as on asyncio, plus the adapter's
`write`, which checks `is_closing()` after uvloop's C `write` (uvloop gives no
synchronous sign of a failed write).""",
    "uvloop: http server CPU/op": """\
As for echo: ~5k instructions per request over the Protocol server.""",
}


def misses_markdown(missed: list[str]) -> str:
    if not missed:
        return "Every target was met in this run."
    out = []
    for label in missed:
        note = next((text for key, text in MISS_NOTES.items() if label.startswith(key)), None)
        out.append(f"### {label}\n")
        out.append(note or "(no analysis recorded for this one: see the profiles above)")
        out.append("")
    return "\n".join(out)


def write_page(
    path: str,
    data: dict[str, Any],
    command: list[str] | str,
    harness_md: str,
    extras: dict[str, Any],
) -> list[str]:
    micro = extras.get("micro_values", {})
    targets_md, missed = targets_table(data, micro)
    cmd_text = command if isinstance(command, str) else shlex.join(command)
    cfg = data["config"]
    page = f"""# Performance

How trionet compares with the raw event loops it runs on and with Node's
`net`, measured side by side in one run of the shared harness
(`../shared/bench/run.py`): every server runs pinned to CPU 0, the C load
generator (or wrk) pinned to CPU 1; each server is a fresh process per
measurement; rounds are interleaved and ratios are *paired* (value / reference
measured seconds apart in the same round, median over rounds). The trionet
servers are `benchmarks/server.py`, written with the public Node-style API
(`create_server`, a `'data'` listener, `write`, `'drain'`, `allow_half_open`).

This page is written by `benchmarks/compare.py` (`nox -s bench`); see
`benchmarks/README.md` for running parts of it.

## Summary

{summary_tables(data)}

## Targets (issue 10)

{targets_md}

Figures are paired medians over {cfg["rounds"]} round(s). Where the load
generator sits near 100 % CPU (echo C=50, http and connect on the fastest
servers), throughput is a ceiling of the client and server CPU per operation
is the honest figure; that is why the uvloop-vs-Node targets on echo and http
compare CPU per request.

## Command

```sh
{cmd_text}
```

{cfg["rounds"]} rounds, {cfg["duration"]:g} s per measurement after a
{cfg["warmup"]:g} s warm-up, transport {cfg["transport"]}. The machine is
shared: absolute numbers drift by 10-30 % between runs (and more while other
work runs), so compare ratios from one run.

## Machine

{chr(10).join(extras.get("machine") or machine())}

## How trionet gets there

{DESIGN_NOTES}
## Micro-benchmarks (`python benchmarks/micro.py`)

{extras.get("micro_md", "(not run)")}

## User-space instructions (valgrind)

Timings on a shared two-core machine wobble; instruction counts do not.
`valgrind --tool=cachegrind` counts every user-space instruction of the server
process (the kernel's work in system calls is not included); two runs of
different lengths are subtracted, so start-up cancels out. Echo with 50
connections and a 4-worker connect loop; the servers are slowed ~50x under
valgrind, so the batches per wake-up differ from the real runs.

{instructions_markdown(extras.get("instructions"))}

## Where the time goes: echo, 50 connections, 64 B

A py-spy profile (`py-spy record --native -r 1000`, attached to the server
after a warm-up) of each trionet backend while the load generator runs echo
with 50 connections. Samples that end in libc are mostly system calls
(`send`/`recv`/`read`/`write`, and `epoll_wait`), i.e. the kernel's work.
{extras.get("profiles_md", "(not run)")}

## Missed targets: why, and what would close them

{misses_markdown(missed)}

## Full tables (run.py's own output)

{harness_md}
"""
    with open(path, "w") as f:
        f.write(page)
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    tests = BASE_TESTS + (["http"] if shutil.which("wrk") else [])
    parser.add_argument("--tests", default=",".join(tests))
    parser.add_argument("--servers", default=",".join(ANCHORS), help="anchor servers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "performance.md"))
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--from-json",
        help="re-render from a saved run (its micro-benchmarks, profiles and counts included)",
    )
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-micro", action="store_true")
    parser.add_argument("--no-instructions", action="store_true", help="skip the valgrind counts")
    parser.add_argument("--profile-seconds", type=float, default=3.0)
    args = parser.parse_args(argv)

    os.makedirs(args.results, exist_ok=True)
    json_path = os.path.join(args.results, "compare.json")
    md_path = os.path.join(args.results, "compare.md")
    if args.from_json:
        json_path = args.from_json
        md_path = os.path.splitext(json_path)[0] + ".md"
        with open(json_path) as f:
            data = json.load(f)
        command: list[str] | str = data.get("compare_command", "(see the JSON)")
    else:
        t0 = time.monotonic()
        command = run_harness(args, json_path, md_path)
        with open(json_path) as f:
            data = json.load(f)
        data["compare_command"] = shlex.join(command)
        print(f"harness done in {time.monotonic() - t0:.0f} s", flush=True)
    with open(md_path) as f:
        harness_md = f.read()

    extras: dict[str, Any] = data.get("compare_extras") or {}
    if not args.from_json or not extras:
        extras = {"machine": machine(), "profile_seconds": args.profile_seconds}
        if not args.no_micro:
            print("micro-benchmarks...", flush=True)
            extras["micro_md"], extras["micro_values"] = run_micro()
        if not args.no_profile:
            profiles = {}
            for backend in BACKENDS:
                print(f"profiling echo50 on {backend}...", flush=True)
                profiles[backend] = profile_backend(backend, args.profile_seconds, native=True)
            extras["profiles_md"] = profile_markdown(profiles, args.profile_seconds)
        if not args.no_instructions:
            print("counting instructions under valgrind (~3 min)...", flush=True)
            extras["instructions"] = instruction_counts()
        data["compare_extras"] = extras
        with open(json_path, "w") as f:
            json.dump(data, f, indent=1)
    missed = write_page(args.output, data, command, harness_md, extras)
    print(f"wrote {args.output}")
    if missed:
        print("targets missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
