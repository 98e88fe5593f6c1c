"""``asrt-service transcribe FILE...``: recognize audio files in-process, no server needed."""

from __future__ import annotations

import argparse
import json
import sys

from ..audio import decode_file
from ..config import Settings, add_arguments, apply_arguments
from ..errors import AsrtError, ModelNotFound
from .logs import setup_logging
from .serve import load_recognizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="asrt-service transcribe", description=__doc__)
    parser.add_argument("files", nargs="+", help="audio files of any format; - for stdin")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--pinyin", action="store_true", help="print toneful pinyin instead of text")
    out.add_argument("--json", action="store_true", help="print one JSON object per file")
    add_arguments(parser, ())
    args = parser.parse_args(argv)
    settings = apply_arguments(Settings.from_env(), args)
    setup_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    try:
        recognizer = load_recognizer(settings)
    except ModelNotFound as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    status = 0
    for path in args.files:
        try:
            data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
            t = recognizer.recognize(decode_file(data))
        except (OSError, AsrtError) as exc:
            sys.stderr.write(f"{path}: {exc}\n")
            status = 1
            continue
        if args.json:
            segs = [{"start": s.start, "end": s.end, "text": s.text, "pinyin": list(s.pinyin)} for s in t.segments]
            print(
                json.dumps(
                    {
                        "file": path,
                        "text": t.text,
                        "pinyin": list(t.pinyin),
                        "segments": segs,
                        "duration_s": t.duration_s,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(" ".join(t.pinyin) if args.pinyin else t.text)
    recognizer.close()
    return status
