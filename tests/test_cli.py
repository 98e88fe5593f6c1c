"""Entry points: the Docker image's start command works outside Docker; no model, no start."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _docker_cmd() -> list[str]:
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("CMD "):
            return json.loads(line[4:])
    raise AssertionError("Dockerfile has no CMD")


def _run_script(args, stdin=None, timeout=120):
    """Run one of the repository's scripts (servers, clients) as a user would; bytes out."""
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, input=stdin, capture_output=True, timeout=timeout, check=False
    )


def test_server_without_model_refuses_to_start_and_says_how(tmp_path):
    done = _run_script(["asrserver_http.py", "--model-dir", str(tmp_path / "nothing"), "--port", "0"], timeout=60)
    stderr = done.stderr.decode()
    assert done.returncode == 2
    assert "No acoustic model found" in stderr
    assert "--model-dir" in stderr and "--asrt-weights" in stderr


def test_asrt_flags_are_accepted():
    for script in ("asrserver_http.py", "asrserver_grpc.py"):
        out = subprocess.run(
            [sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
        ).stdout
        assert "--listen" in out and "--port" in out


def test_docker_start_command_serves_both_protocols(shared_data):
    cmd = _docker_cmd()
    exe = shutil.which(cmd[0], path=str(Path(sys.executable).parent)) or shutil.which(cmd[0])
    if exe is None:
        pytest.fail(f"{cmd[0]} is not installed (pip install -e .)")
    if not (REPO / "models" / "zh_dcnn_v1" / "model.json").exists():
        pytest.skip("no shipped model yet")
    http_port, grpc_port = _free_port(), _free_port()
    env = {**os.environ, "ASRT_HOST": "127.0.0.1", "ASRT_HTTP_PORT": str(http_port), "ASRT_GRPC_PORT": str(grpc_port)}
    proc = subprocess.Popen(
        [exe, *cmd[1:]], cwd="/", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if requests.get(f"http://127.0.0.1:{http_port}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            pytest.fail("server did not become ready in 180 s")
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as ch:
            status = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service="asrt.AsrtGrpcService"), timeout=10
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING
        wav = shared_data / "real-dev" / "wav" / "thchs30_A2_0.wav"
        r = requests.post(f"http://127.0.0.1:{http_port}/v1/recognize", files={"file": wav.read_bytes()}, timeout=60)
        assert r.status_code == 200 and r.json()["text"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert f"REST API listening on http://127.0.0.1:{http_port}" in out, out
    assert f"gRPC API listening on 127.0.0.1:{grpc_port}" in out, out
    assert "Logging error" not in out and "Traceback" not in out, out


def test_dockerfile_basics():
    text = (REPO / "Dockerfile").read_text()
    assert text.count("FROM ") >= 2, "multi-stage"
    assert "USER 10001" in text and "HEALTHCHECK" in text and "EXPOSE 20001 20002" in text


def test_dockerfile_lint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed")
    done = subprocess.run([hadolint, "Dockerfile"], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_clients_transcribe_files_and_stdin(shipped_servers, real_wav, tmp_path):
    http_url, grpc_target = shipped_servers
    flac = tmp_path / "a.flac"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(real_wav), str(flac)], check=True)
    texts = []
    for args, stdin in [
        (["client_http.py", "--url", http_url, str(flac)], None),
        (["client_http.py", "--url", http_url, "--asrt", "-"], real_wav.read_bytes()),
        (["client_grpc.py", "--server", grpc_target, str(flac)], None),
    ]:
        done = _run_script(args, stdin)
        assert done.returncode == 0, done.stderr.decode()
        texts.append(done.stdout.decode().strip())
    assert texts[0] and texts[0] == texts[1] == texts[2]
    pinyin = _run_script(["client_grpc.py", "--server", grpc_target, "--pinyin", str(real_wav)])
    assert pinyin.returncode == 0 and len(pinyin.stdout.decode().split()) >= 10


def test_grpc_client_streams_with_json_lines(shipped_servers, real_wav):
    done = _run_script(
        ["client_grpc.py", "--server", shipped_servers[1], "--stream", "--speed", "20", "--json", str(real_wav)]
    )
    assert done.returncode == 0, done.stderr.decode()
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert any(not r["final"] for r in lines) and lines[-1]["final"]


def test_clients_report_bad_files(shipped_servers, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + b"\x00" * 40)
    done = _run_script(["client_http.py", "--url", shipped_servers[0], str(bad)])
    assert done.returncode == 1 and b"could not decode" in done.stderr


def test_asrt_weights_without_dict_is_refused(tmp_path):
    done = _run_script(["asrserver_grpc.py", "--asrt-weights", str(tmp_path / "w.h5"), "--port", "0"])
    assert done.returncode == 2 and "--asrt-weights needs --asrt-dict" in done.stderr.decode()


def test_predict_prints_pinyin_alternatives_and_nbest_text(real_wav, tmp_path, capsys):
    from asrt_service.cli import predict

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    assert predict.main([str(real_wav), str(bad), "--lm", str(REPO / "models" / "lm"), "--json", "--topk", "3"]) == 1
    captured = capsys.readouterr()
    assert "bad.wav: cannot read audio" in captured.err
    (line,) = captured.out.strip().splitlines()
    out = json.loads(line)
    assert len(out["pinyin"]) >= 20 and len(out["alternatives"]) == len(out["pinyin"])
    for syl, cands in zip(out["pinyin"], out["alternatives"], strict=True):
        assert len(cands) == 3 and cands[0][0] == syl
        probs = [p for _, p in cands]
        assert probs == sorted(probs, reverse=True) and 0 < probs[0] <= 1
    assert len(out["text"]) >= 20 and all("\u4e00" <= ch <= "\u9fff" for ch in out["text"])


def test_predict_and_evaluate_refuse_a_missing_language_model(real_wav, tmp_path, caplog):
    """A language model named with --lm that is not there stops the command (it used to be skipped with a warning)."""
    from asrt_service.cli import evaluate, predict

    missing = tmp_path / "no-lm"
    assert predict.main([str(real_wav), "--lm", str(missing)]) == 2
    assert evaluate.main([str(real_wav.parent), "--lm", str(missing), "--no-progress"]) == 2
    refusals = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert refusals == [f"language model not found: {missing}"] * 2


def test_rebuild_corpora_makes_the_real_train_lists_and_refuses_unknown_steps(tmp_path):
    """scripts/rebuild_corpora.sh, step real-train, on 64 short made-up recordings."""
    import soundfile as sf

    if not (REPO / ".venv" / "bin" / "asrt-service").exists():
        pytest.skip("needs the .venv of scripts/setup.sh")
    real_train = tmp_path / "shared" / "data" / "real-train"
    (real_train / "audio").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = ["id\tspeaker\tpinyin"]
    for i in range(64):
        sf.write(real_train / "audio" / f"u{i:02d}.flac", 0.1 * rng.standard_normal(4000).astype("float32"), 16000)
        lines.append(f"u{i:02d}\tS1\tni3 hao3")
    (real_train / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {
        **os.environ,
        "ASRT_SERVICE_CACHE": str(tmp_path / "cache"),
        "ASRT_SHARED_DATA": str(tmp_path / "shared" / "data"),
    }
    script = str(REPO / "scripts" / "rebuild_corpora.sh")
    done = subprocess.run(["bash", script, "nonsense"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown step 'nonsense'" in done.stderr
    done = subprocess.run(["bash", script, "real-train"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lists = tmp_path / "cache" / "lists"
    count = {p.relative_to(lists).as_posix(): len(p.read_text().splitlines()) for p in lists.glob("*/*.wav.lst")}
    assert count == {
        "real-train/train.wav.lst": 4,
        "real-train/heldout.wav.lst": 60,
        "real-train-slow/train.wav.lst": 8,
        "real-train-8k/train.wav.lst": 8,
    }
