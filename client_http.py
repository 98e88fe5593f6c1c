#!/usr/bin/env python3
"""Command-line client for the REST API: transcribe audio files of any format.

python client_http.py speech.wav                # text
python client_http.py --pinyin a.mp3 b.flac     # pinyin
cat speech.wav | python client_http.py -        # from stdin
python client_http.py --json speech.wav         # full /v1 result
python client_http.py --asrt speech.wav         # ASRT's /all route, raw PCM (16 s max)
"""

from asrt_service.cli.client import main_http

if __name__ == "__main__":
    raise SystemExit(main_http())
