"""The dashboard's cost in a real terminal, measured in one run.

    python bench/tui.py [--checks 1000] [--duration 30] [--keys 40]

Runs each program in a pseudo-terminal of its own (200x50 unless --size), reading
everything it draws, and measures its process's CPU with psutil:
  * "baseline": a bare Textual app with a 1000-row DataTable updating once a second;
  * "loaded":   healthdash on N http checks at a 1 s interval against a loopback server;
  * "idle":     healthdash on the repository's default dash.toml.
For "loaded" it also measures first paint (launch to the title on screen) and
keypress-to-screen latency: `s` cycles the sort, and the time until the new sort's
name is drawn is one sample. Prints CPU % of one core, peak RSS, the ratios against
the baseline, and the targets.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import struct
import sys
import tempfile
import termios
import threading
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from loopback import start_server  # noqa: E402

_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

BASELINE_APP = '''
import random
from textual.app import App
from textual.widgets import DataTable

class Baseline(App):
    def compose(self):
        yield DataTable()

    def on_mount(self):
        table = self.query_one(DataTable)
        for label in ("status", "name", "latency", "message"):
            table.add_column(label, key=label)
        for i in range(1000):
            table.add_row("ok", f"check-{i}", "1.0ms", "200 OK", key=str(i))
        self.set_interval(1.0, self.tick)

    def tick(self):
        table = self.query_one(DataTable)
        with self.batch_update():
            for i in range(1000):
                table.update_cell(str(i), "latency", f"{random.uniform(0.5, 3):.1f}ms")

Baseline().run()
'''


class Terminal:
    """A program running in a pseudo-terminal; its output is read and searchable."""

    def __init__(self, argv: list[str], size: tuple[int, int], env: dict[str, str] | None = None) -> None:
        self.started = time.monotonic()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the program
            cols, rows = size
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.environ.update(env or {})
            os.environ["TERM"] = "xterm-256color"
            os.execvp(argv[0], argv)
        cols, rows = size
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.process = psutil.Process(self.pid)
        self._text = bytearray()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._done = False
        self.peak_rss = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while not self._done:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:
                break
            with self._cond:
                self._text += _ESCAPES.sub(b"", data)
                if len(self._text) > 1 << 20:
                    del self._text[: len(self._text) - (1 << 19)]
                self._cond.notify_all()

    def mark(self) -> int:
        with self._lock:
            return len(self._text)

    def wait_for(self, needle: bytes, since: int = 0, timeout: float = 10.0) -> float | None:
        """Seconds until `needle` is drawn after position `since`, or None."""
        start = time.monotonic()
        with self._cond:
            while True:
                # The buffer may have been trimmed; search what is left after `since`.
                if needle in self._text[min(since, len(self._text)) :]:
                    return time.monotonic() - start
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    return None
                self._cond.wait(left)

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def cpu(self) -> float:
        t = self.process.cpu_times()
        return t.user + t.system

    def sample_rss(self) -> None:
        try:
            self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
        except psutil.Error:
            pass

    def close(self) -> None:
        self._done = True
        try:
            self.process.terminate()
            self.process.wait(5)
        except psutil.Error:
            pass
        os.close(self.fd)


def measure_cpu(term: Terminal, seconds: float) -> float:
    """CPU % of one core used by the program over `seconds`."""
    c0, t0 = term.cpu(), time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end:
        term.sample_rss()
        time.sleep(0.5)
    return (term.cpu() - c0) / (time.monotonic() - t0) * 100


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per program")
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--keys", type=int, default=40, help="keypresses timed")
    parser.add_argument("--size", default="200x50")
    args = parser.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    results: dict[str, dict[str, float]] = {}

    # Baseline: a bare Textual app with a 1000-row table updated every second.
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(BASELINE_APP)
        baseline_path = f.name
    term = Terminal([sys.executable, baseline_path], size)
    time.sleep(args.warmup)
    results["baseline"] = {"cpu": measure_cpu(term, args.duration), "rss": term.peak_rss}
    term.close()
    os.unlink(baseline_path)

    # Loaded: N http checks at 1 s.
    server, port = start_server()
    config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    lines = ['[dashboard]', 'title = "bench"', 'concurrency = 1000', '[defaults]', 'interval = "1s"', 'timeout = "1s"', 'retries = 0']
    for i in range(args.checks):
        lines += ["[[check]]", f'name = "api-{i:04d}"', 'kind = "http"', f'url = "http://127.0.0.1:{port}/ok?check={i}"']
    config.write("\n".join(lines))
    config.close()
    try:
        term = Terminal([sys.executable, "-m", "dash", "-c", config.name], size)
        first_paint = term.wait_for(b"bench", timeout=30)
        first_paint = (time.monotonic() - term.started) if first_paint is not None else float("nan")
        time.sleep(args.warmup)
        cpu = measure_cpu(term, args.duration)
        # Keypress to screen: each `s` must draw the next sort's name.
        sorts = ["name", "latency", "last change", "severity"]
        latencies = []
        for i in range(args.keys):
            want = f"sort: {sorts[i % len(sorts)]}".encode()
            since = term.mark()
            term.send(b"s")
            took = term.wait_for(want, since=since, timeout=5)
            latencies.append(took if took is not None else 5.0)
            time.sleep(0.25)
        term.sample_rss()
        results["loaded"] = {
            "cpu": cpu, "rss": term.peak_rss, "first_paint": first_paint,
            "key_p50": percentile(latencies, 50), "key_p99": percentile(latencies, 99),
        }
        term.close()
    finally:
        server.terminate()
        server.wait()
        os.unlink(config.name)

    # Idle: the default dash.toml.
    term = Terminal([sys.executable, "-m", "dash", "-c", os.path.join(ROOT, "dash.toml")], size)
    time.sleep(args.warmup)
    results["idle"] = {"cpu": measure_cpu(term, args.duration), "rss": term.peak_rss}
    term.close()

    base = results["baseline"]["cpu"]
    loaded, idle = results["loaded"], results["idle"]
    print(f"terminal {size[0]}x{size[1]}, {args.duration:g}s measured per program after {args.warmup:g}s warm-up")
    print(f"{'':44}{'CPU %':>8}{'RSS MB':>8}{'vs baseline':>13}")
    print(f"{'baseline: bare Textual, 1000-row DataTable':44}{base:8.1f}{results['baseline']['rss'] / 2**20:8.0f}{'1.00x':>13}")
    print(f"{f'healthdash, {args.checks} http checks at 1s':44}{loaded['cpu']:8.1f}{loaded['rss'] / 2**20:8.0f}{loaded['cpu'] / base:12.2f}x")
    print(f"{'healthdash, default dash.toml (idle)':44}{idle['cpu']:8.1f}{idle['rss'] / 2**20:8.0f}{idle['cpu'] / base:12.2f}x")
    print()
    print(f"loaded CPU: {loaded['cpu']:.1f}% of one core          (target <= 50%)")
    print(f"keypress to screen: p50 {loaded['key_p50'] * 1000:.0f} ms, p99 {loaded['key_p99'] * 1000:.0f} ms   (target p99 <= 100 ms)")
    print(f"idle CPU: {idle['cpu']:.1f}% of one core             (target <= 2%)")
    print(f"first paint: {loaded['first_paint']:.2f} s after launch  (target <= 1 s)")


if __name__ == "__main__":
    main()
