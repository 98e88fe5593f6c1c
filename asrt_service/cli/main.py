"""``asrt-service``: one console command with a subcommand per task.

Each subcommand lives in its own module with a ``main(argv)``; this file only
dispatches, so ``asrt-service train --help`` costs no server imports.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "serve": ("asrt_service.cli.serve", "main", "serve REST (20001) and gRPC (20002) from one process"),
    "serve-http": ("asrt_service.cli.serve", "main_http", "serve the REST API only (ASRT's asrserver_http.py)"),
    "serve-grpc": ("asrt_service.cli.serve", "main_grpc", "serve the gRPC API only (ASRT's asrserver_grpc.py)"),
    "transcribe": ("asrt_service.cli.transcribe", "main", "transcribe audio files in-process (no server)"),
    "http-client": ("asrt_service.cli.client", "main_http", "transcribe files through a running REST server"),
    "grpc-client": ("asrt_service.cli.client", "main_grpc", "transcribe or stream files through a running gRPC server"),
    "train": ("asrt_service.cli.train", "main", "train an acoustic model from ASRT list files"),
    "evaluate": ("asrt_service.cli.evaluate", "main", "syllable / character error rates of a model"),
    "compare": ("asrt_service.cli.compare", "main", "is model B better than A? paired bootstrap over two reports"),
    "average": ("asrt_service.cli.average", "main", "average the weights of models fine-tuned from one start"),
    "predict": ("asrt_service.cli.predict", "main", "acoustic-model pinyin for audio files"),
    "join-clips": ("asrt_service.training.join", "main", "join consecutive clips into long recordings (test sets)"),
    "tempo-copies": (
        "asrt_service.training.tempo_copies",
        "main",
        "copies of clips at other speaking rates or through a narrow band (training)",
    ),
    "build-corpus": ("asrt_service.cli.build_corpus", "main", "synthesize a training corpus with offline TTS"),
    "build-lm": ("asrt_service.cli.build_lm", "main", "build the pinyin-to-hanzi language model"),
    "build-proto": ("asrt_service.cli.build_proto", "main", "regenerate the gRPC stubs from protos/asrt.proto"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [
            "usage: asrt-service COMMAND [options]   (asrt-service COMMAND --help for its options)",
            "",
            "commands:",
        ]
        lines += [f"  {name:<13} {help_}" for name, (_, _, help_) in COMMANDS.items()]
        if argv and argv[0] not in ("-h", "--help"):
            sys.stderr.write(f"unknown command {argv[0]!r}\n\n")
        sys.stdout.write("\n".join(lines) + "\n")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module, func, _ = COMMANDS[argv[0]]
    return getattr(importlib.import_module(module), func)(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
