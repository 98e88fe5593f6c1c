"""A baseline server that serves our weights the way ASRT's own servers do.

For the speed benchmark only. ASRT's ``asrserver_http.py`` / ``asrserver_grpc.py``
handle each request on its own: features of the clip, zero-padded to the
model's 1600-frame (16 s) input, one Keras ``predict`` call per request, greedy
CTC decoding, then the language model. Here that path runs on the same
acoustic model and language model as asrt-service, one request at a time (a
global lock), behind the same routes (REST ``/all`` on waitress, gRPC ``All``),
so that the benchmark compares serving strategies, not models.

    python bench/asrt_style_server.py --model-dir models/zh_dcnn_v1 --http-port 21001 --grpc-port 21002
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from asrt_service import features, wire  # noqa: E402
from asrt_service.acoustic_model import AcousticModel, ctc_greedy  # noqa: E402
from asrt_service.language_model import PinyinLM  # noqa: E402


class AsrtStyleEngine:
    """One request at a time; every clip padded to the full window; Keras ``predict``."""

    def __init__(self, model_dir: str, lm_dir: str) -> None:
        self.am = AcousticModel.load(model_dir)
        self.lm = PinyinLM.load(lm_dir)
        self.lock = threading.Lock()
        self.window = self.am.spec.window_frames

    def all(self, wav) -> str:
        samples = wire.audio_from_wavdata(wav).samples
        feats = features.extract(samples, self.am.spec.feature)[: self.window]
        x = np.zeros((1, self.window, self.am.spec.n_features, 1), np.float32)
        x[0, : len(feats), :, 0] = feats
        with self.lock:
            probs = self.am.model.predict(x, verbose=0)[0]
        pinyin = self.am.vocab.decode(ctc_greedy(probs))
        return self.lm.decode(pinyin).text


def serve(engine: AsrtStyleEngine, host: str, http_port: int, grpc_port: int) -> None:
    import grpc
    from flask import Flask, Response, request
    from waitress.server import create_server

    from asrt_service.cli.serve import WaitressLoop, stop_http
    from asrt_service.proto import asrt_pb2, asrt_pb2_grpc

    app = Flask("asrt_style")

    @app.post("/all")
    def all_route():
        body = json.loads(request.get_data())
        text = engine.all(wire.wavdata_from_json(body))
        return Response(
            json.dumps({"result": text, "status_code": 200000, "status_message": "all level"}, sort_keys=True),
            mimetype="application/json",
        )

    @app.get("/readyz")
    def ready():
        return {"status": "ready"}

    class Servicer(asrt_pb2_grpc.AsrtGrpcServiceServicer):
        def All(self, request, context):  # noqa: N802
            return asrt_pb2.TextResponse(
                status_code=200000, status_message="all level", text_result=engine.all(request.wav_data)
            )

    gserver = grpc.server(futures.ThreadPoolExecutor(max_workers=10))
    asrt_pb2_grpc.add_AsrtGrpcServiceServicer_to_server(Servicer(), gserver)
    gserver.add_insecure_port(f"{host}:{grpc_port}")
    gserver.start()
    http = create_server(app, host=host, port=http_port, threads=16)
    http_thread = WaitressLoop(http)
    http_thread.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    stop_http(http, http_thread)
    gserver.stop(None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=os.environ.get("ASRT_MODEL_DIR", str(REPO / "models" / "zh_dcnn_v1")))
    parser.add_argument("--lm-dir", default=os.environ.get("ASRT_LM_DIR", str(REPO / "models" / "lm")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(AsrtStyleEngine(args.model_dir, args.lm_dir), args.host, args.http_port, args.grpc_port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
