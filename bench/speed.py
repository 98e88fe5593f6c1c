"""Serving speed: our dynamic batching vs ASRT-style serving, same weights, same run.

Servers one after the other, each a subprocess on the shipped model files (baseline_model on others):

- ``ours``: ``asrt-service serve`` as shipped (clips run on their real length,
  concurrent requests batched);
- ``ours_one_view``: the same server with ``--tempo-views 1``: each clip run
  once instead of once per test-time tempo view of the model (five for
  zh_dcnn_v1), what the views cost;
- ``ours_padded_serial``: the same server with ``--pad-to-window --max-batch 1``
  (every clip padded to 16 s, one at a time), to separate the two effects;
- ``asrt_style``: ``bench/asrt_style_server.py``, the request path of ASRT's own
  servers (pad to 16 s, one Keras ``predict`` per request, one at a time).

Against each it sends real speech clips of 3, 5 and 16 s over REST (``/all``,
ASRT JSON) and gRPC (``All``) at concurrency 1, 4 and 16, and reports latency
p50/p95, throughput and the server's peak RSS.

- ``baseline_model`` (with ``--baseline-model DIR``): ``asrt-service serve``
  on another acoustic model (say the previous revision), to see what a new
  model costs to serve, side by side in one run.

    python bench/speed.py                    # full table (~10 min on 2 cores)
    python bench/speed.py --quick            # fewer requests per cell
    python bench/speed.py --variants ours --baseline-model /tmp/rev11   # two models only

Prints a table and writes ``bench/results/speed.json``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from asrt_service.audio import decode_file  # noqa: E402

SHARED = Path(os.environ.get("ASRT_SHARED_DATA", REPO.parent / "shared" / "data"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clips(seconds_list) -> dict[float, bytes]:
    """Real THCHS30 speech, concatenated and cut to each length, as int16 PCM."""
    wavs = sorted((SHARED / "real-dev" / "wav").glob("thchs30_*.wav"))
    speech = np.concatenate([decode_file(w.read_bytes()).samples for w in wavs])
    return {s: (speech[: int(s * 16000)] * 32767).astype("<i2").tobytes() for s in seconds_list}


class Server:
    def __init__(self, variant: str, baseline_model: str | None = None) -> None:
        self.http_port, self.grpc_port = free_port(), free_port()
        env = {
            **os.environ,
            "ASRT_HOST": "127.0.0.1",
            "ASRT_HTTP_PORT": str(self.http_port),
            "ASRT_GRPC_PORT": str(self.grpc_port),
            "ASRT_LOG_LEVEL": "WARNING",
        }
        serve = [sys.executable, "-m", "asrt_service.cli.main", "serve"]
        cmd = {
            "ours": serve,
            "ours_one_view": [*serve, "--tempo-views", "1"],
            "ours_padded_serial": [*serve, "--pad-to-window", "--max-batch", "1"],
            "baseline_model": [*serve, "--model-dir", str(baseline_model)],
            "asrt_style": [
                sys.executable,
                str(REPO / "bench" / "asrt_style_server.py"),
                "--http-port",
                str(self.http_port),
                "--grpc-port",
                str(self.grpc_port),
            ],
        }[variant]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited during start-up")
            try:
                if requests.get(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise RuntimeError("server did not become ready")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def run_cell(send, concurrency: int, n_requests: int) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()

    def one(_):
        t0 = time.perf_counter()
        send()
        dt = time.perf_counter() - t0
        with lock:
            latencies.append(dt)

    send()  # warm this shape
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n_requests)))
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=20)
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": q[18] * 1000,
        "throughput_rps": n_requests / wall,
        "n": n_requests,
    }


def senders(server: Server, pcm: bytes):
    import grpc

    from asrt_service.proto import asrt_pb2, asrt_pb2_grpc

    session = requests.Session()
    body = json.dumps(
        {"samples": base64.urlsafe_b64encode(pcm).decode(), "sample_rate": 16000, "channels": 1, "byte_width": 2}
    )
    url = f"http://127.0.0.1:{server.http_port}/all"

    def rest():
        r = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=600)
        assert r.json()["status_code"] == 200000, r.text

    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    stub = asrt_pb2_grpc.AsrtGrpcServiceStub(channel)
    req = asrt_pb2.SpeechRequest(wav_data=asrt_pb2.WavData(samples=pcm, sample_rate=16000, channels=1, byte_width=2))

    def grpc_call():
        r = stub.All(req, timeout=600)
        assert r.status_code == 200000, r.status_message

    return {"rest": rest, "grpc": grpc_call}


VARIANTS = ["ours", "ours_one_view", "ours_padded_serial", "asrt_style"]
# ratio name -> the variant "ours" is compared with: p50_speedup_<name> is that variant's p50
# latency over ours (above 1: ours is faster), throughput_gain_<name> ours over its throughput.
RATIOS = {
    "vs_asrt_style": "asrt_style",
    "vs_padded_serial": "ours_padded_serial",
    "vs_one_view": "ours_one_view",
    "vs_baseline_model": "baseline_model",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per cell")
    parser.add_argument("--seconds", type=float, nargs="+", default=[3.0, 5.0, 16.0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=VARIANTS, help="servers to run (default all)"
    )
    parser.add_argument("--baseline-model", help="also serve this acoustic model directory (variant baseline_model)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "speed.json"))
    args = parser.parse_args(argv)
    variants = list(dict.fromkeys(args.variants))
    if args.baseline_model:
        if not (Path(args.baseline_model) / "model.json").is_file():
            parser.error(f"--baseline-model {args.baseline_model}: no model.json there")
        variants.append("baseline_model")
    pcms = clips(args.seconds)
    rows = []
    for variant in variants:
        server = Server(variant, args.baseline_model)
        try:
            for seconds, pcm in pcms.items():
                for proto, send in senders(server, pcm).items():
                    for conc in args.concurrency:
                        n = max(conc * (2 if args.quick else 4), 8 if args.quick else 20)
                        cell = run_cell(send, conc, n)
                        row = {"variant": variant, "protocol": proto, "clip_s": seconds, "concurrency": conc, **cell}
                        rows.append(row)
                        print(
                            f"{variant:10} {proto:4} {seconds:4.0f}s c={conc:<2} p50={cell['p50_ms']:8.1f}ms p95={cell['p95_ms']:8.1f}ms {cell['throughput_rps']:7.2f} req/s",
                            flush=True,
                        )
            rss = server.peak_rss_mb()
            for r in rows:
                if r["variant"] == variant:
                    r["server_peak_rss_mb"] = rss
        finally:
            server.stop()

    short = {
        "ours": "ours",
        "ours_one_view": "1 view",
        "ours_padded_serial": "padded",
        "asrt_style": "asrt",
        "baseline_model": "baseline",
    }
    ratios = {name: other for name, other in RATIOS.items() if "ours" in variants and other in variants}
    print(
        "\np50 latency (ms) | throughput (req/s)"
        + ("; ratios of ours to the others in the JSON summary" if ratios else "")
    )
    head = " ".join(f"{short[v]:>8}" for v in variants)
    print(f"{'clip':>5} {'proto':5} {'conc':>4} | {head} | {head}")
    print("-" * (20 + 18 * len(variants)))
    summary = []

    def cell(variant, proto, seconds, conc):
        return next(
            r
            for r in rows
            if r["variant"] == variant
            and r["protocol"] == proto
            and r["clip_s"] == seconds
            and r["concurrency"] == conc
        )

    for seconds in args.seconds:
        for proto in ("rest", "grpc"):
            for conc in args.concurrency:
                cells = {v: cell(v, proto, seconds, conc) for v in variants}
                entry = {"clip_s": seconds, "protocol": proto, "concurrency": conc}
                for name, other in ratios.items():
                    a, b = cells["ours"], cells[other]
                    entry[f"p50_speedup_{name}"] = b["p50_ms"] / a["p50_ms"]
                    entry[f"throughput_gain_{name}"] = a["throughput_rps"] / b["throughput_rps"]
                summary.append(entry)
                lat = " ".join(f"{c['p50_ms']:8.1f}" for c in cells.values())
                thr = " ".join(f"{c['throughput_rps']:8.2f}" for c in cells.values())
                print(f"{seconds:5.0f} {proto:5} {conc:4} | {lat} | {thr}")
    rss = {v: next(r["server_peak_rss_mb"] for r in rows if r["variant"] == v) for v in variants}
    print("\nserver peak RSS (MB): " + ", ".join(f"{v} {m:.0f}" for v, m in rss.items()))
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "baseline_model": args.baseline_model,
        "rows": rows,
        "summary": summary,
        "peak_rss_mb": rss,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
