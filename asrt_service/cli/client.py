"""Client CLIs for both APIs (``client_http.py``, ``client_grpc.py``, ``asrt-service transcribe``).

Files of any format are decoded locally to 16 kHz int16 PCM (the same decoder
the server uses), so the ASRT routes, which take raw PCM, work for MP3 or
FLAC too; the REST client's default route ``/v1/recognize`` uploads the file
as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from ..audio import SAMPLE_RATE, decode_file

#: ASRT's routes take at most 16 s per request; longer audio goes in pieces.
ASRT_MAX_SECONDS = 16


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _pcm16(data: bytes) -> bytes:
    samples = decode_file(data).samples
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def main_http(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="client_http.py", description="Transcribe audio files with the asrt-service REST API."
    )
    parser.add_argument("files", nargs="+", help="audio files (WAV, FLAC, MP3, OGG, M4A, ...); - for stdin")
    parser.add_argument("--url", default="http://127.0.0.1:20001", help="server base URL (default %(default)s)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--pinyin", action="store_true", help="print toneful pinyin instead of text")
    out.add_argument("--json", action="store_true", help="print the full JSON result")
    parser.add_argument("--asrt", action="store_true", help="use ASRT's routes (/all, /speech) with raw PCM")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    import requests

    status = 0
    for path in args.files:
        data = _read(path)
        try:
            if args.asrt:
                pcm = _pcm16(data)
                parts = []
                step = ASRT_MAX_SECONDS * SAMPLE_RATE * 2
                for i in range(0, len(pcm), step):
                    body = {
                        "samples": _b64(pcm[i : i + step]),
                        "sample_rate": SAMPLE_RATE,
                        "channels": 1,
                        "byte_width": 2,
                    }
                    r = requests.post(
                        f"{args.url}/{'speech' if args.pinyin else 'all'}", json=body, timeout=args.timeout
                    )
                    r.raise_for_status()
                    reply = r.json()
                    if reply["status_code"] != 200000:
                        raise RuntimeError(f"{reply['status_code']}: {reply['status_message']}")
                    parts.append(" ".join(reply["result"]) if args.pinyin else reply["result"])
                text = (" " if args.pinyin else "").join(parts)
                print(json.dumps({"file": path, "result": text}, ensure_ascii=False) if args.json else text)
                continue
            route = "speech" if args.pinyin else "recognize"
            r = requests.post(f"{args.url}/v1/{route}", files={"file": (path, data)}, timeout=args.timeout)
            reply = r.json()
            if r.status_code != 200:
                raise RuntimeError(reply.get("error", {}).get("message", r.text))
            if args.json:
                print(json.dumps({"file": path, **reply}, ensure_ascii=False))
            else:
                print(" ".join(reply["pinyin"]) if args.pinyin else reply["text"])
        except Exception as exc:  # report per file, keep going
            sys.stderr.write(f"{path}: {exc}\n")
            status = 1
    return status


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).decode("ascii")


def main_grpc(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="client_grpc.py", description="Transcribe audio files with the asrt-service gRPC API."
    )
    parser.add_argument("files", nargs="+", help="audio files (WAV, FLAC, MP3, OGG, M4A, ...); - for stdin")
    parser.add_argument("--server", default="127.0.0.1:20002", help="host:port (default %(default)s)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--pinyin", action="store_true", help="print toneful pinyin (Speech) instead of text (All)")
    out.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--stream", action="store_true", help="stream the file in real time, printing partial results")
    parser.add_argument("--chunk-ms", type=int, default=400, help="stream chunk length (default %(default)s ms)")
    parser.add_argument("--speed", type=float, default=1.0, help="stream faster than real time (e.g. 4)")
    args = parser.parse_args(argv)
    import grpc

    from ..proto import asrt_pb2, asrt_pb2_grpc

    channel = grpc.insecure_channel(args.server, options=[("grpc.max_send_message_length", 64 << 20)])
    stub = asrt_pb2_grpc.AsrtGrpcServiceStub(channel)
    status = 0
    for path in args.files:
        try:
            pcm = _pcm16(_read(path))
            if args.stream:
                status |= _stream(stub, asrt_pb2, pcm, args, path)
                continue
            texts = []
            step = ASRT_MAX_SECONDS * SAMPLE_RATE * 2
            for i in range(0, len(pcm), step):
                req = asrt_pb2.SpeechRequest(
                    wav_data=asrt_pb2.WavData(
                        samples=pcm[i : i + step], sample_rate=SAMPLE_RATE, channels=1, byte_width=2
                    )
                )
                reply = stub.Speech(req) if args.pinyin else stub.All(req)
                if reply.status_code != 200000:
                    raise RuntimeError(f"{reply.status_code}: {reply.status_message}")
                texts.append(" ".join(reply.result_data) if args.pinyin else reply.text_result)
            text = (" " if args.pinyin else "").join(texts)
            print(json.dumps({"file": path, "result": text}, ensure_ascii=False) if args.json else text)
        except Exception as exc:
            sys.stderr.write(f"{path}: {exc}\n")
            status = 1
    return status


def _stream(stub, pb, pcm: bytes, args, path: str) -> int:
    step = SAMPLE_RATE * 2 * args.chunk_ms // 1000

    def chunks():
        for i in range(0, len(pcm), step):
            time.sleep(args.chunk_ms / 1000 / args.speed)
            yield pb.SpeechRequest(
                wav_data=pb.WavData(samples=pcm[i : i + step], sample_rate=SAMPLE_RATE, channels=1, byte_width=2)
            )

    tty = sys.stdout.isatty() and not args.json
    for reply in stub.Stream(chunks()):
        if reply.status_code not in (200000, 206000):
            sys.stderr.write(f"{path}: {reply.status_code}: {reply.status_message}\n")
            return 1
        final = reply.status_code == 200000
        if args.json:
            print(json.dumps({"file": path, "final": final, "text": reply.text_result}, ensure_ascii=False), flush=True)
        elif final and reply.text_result:
            print(("\r\033[K" if tty else "") + reply.text_result, flush=True)
        elif tty:
            print("\r\033[K… " + reply.text_result, end="", flush=True)
    return 0
