"""`healthdash check` wall time for 100 checks against its slowest single check, in one run.

    python bench/check_wall.py [--checks 100] [--slowest-ms 1000] [--repeat 5]

Starts a loopback HTTP server (its own process) whose /slow/<ms> answers 200 after <ms>
milliseconds. The config holds N http checks whose delays are spread evenly up to
--slowest-ms (10, 20, ... 1000 ms for 100 checks). Then, as a user would, it times:
  * `healthdash check -c <config>`: all N checks, run concurrently;
  * `healthdash check -c <config> --only <the slowest>`: that one check alone.
Each is a fresh subprocess (interpreter start-up included in both: it is what a user
waits for), repeated --repeat times; the medians and their ratio are printed
(target <= 1.2x: running everything costs little more than the slowest check).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def serve(port_fd: int) -> None:
    """Answer GET /slow/<ms> with a 200 after <ms> milliseconds (keep-alive)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].split(b"?")[0]
                ms = int(path.rsplit(b"/", 1)[1]) if path.startswith(b"/slow/") else 0
                await asyncio.sleep(ms / 1000)
                body = b'{"status": "UP"}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        os.write(port_fd, f"{server.sockets[0].getsockname()[1]}\n".encode())
        await server.serve_forever()

    asyncio.run(main())


def start_server() -> tuple[subprocess.Popen, int]:
    """The delaying server in a child process; returns it and its port."""
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", str(w)], pass_fds=(w,))
    os.close(w)
    with os.fdopen(r) as pipe:
        port = int(pipe.readline())
    return proc, port


def write_config(path: str, port: int, n: int, slowest_ms: int) -> str:
    """N http checks with delays spread up to `slowest_ms`; returns the slowest check's name."""
    lines = ["[defaults]", 'interval = "15s"', 'timeout = "5s"']
    for i in range(n):
        ms = round(slowest_ms * (i + 1) / n)
        lines += ["[[check]]", f'name = "slow-{i:03d}"', 'kind = "http"', f'url = "http://127.0.0.1:{port}/slow/{ms}"']
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return f"slow-{n - 1:03d}"


def time_command(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run; a failing run (not exit 0) stops the benchmark."""
    t0 = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    took = time.monotonic() - t0
    if out.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {out.returncode}:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=100)
    parser.add_argument("--slowest-ms", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return

    server, port = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "dash.toml")
            slowest = write_config(config, port, args.checks, args.slowest_ms)
            env = {**os.environ, "XDG_STATE_HOME": os.path.join(tmp, "state"), "PYTHONPATH": ROOT}
            base = [sys.executable, "-m", "dash", "check", "-c", config]
            every, one = [], []
            # Interleaved, so drift in the machine's load falls on both alike.
            for _ in range(args.repeat):
                every.append(time_command(base, env))
                one.append(time_command([*base, "--only", slowest], env))
    finally:
        server.terminate()
        server.wait()

    all_med, one_med = statistics.median(every), statistics.median(one)
    print(f"healthdash check, {args.checks} http checks answering after {args.slowest_ms / args.checks:g}..{args.slowest_ms} ms, median of {args.repeat} runs")
    print(f"{f'all {args.checks} checks':36}{all_med:7.3f} s   (runs: {', '.join(f'{t:.3f}' for t in every)})")
    print(f"{f'--only {slowest} ({args.slowest_ms} ms)':36}{one_med:7.3f} s   (runs: {', '.join(f'{t:.3f}' for t in one)})")
    print(f"\nall / slowest alone: {all_med / one_med:.2f}x   (target <= 1.2x)")


if __name__ == "__main__":
    main()
