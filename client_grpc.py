#!/usr/bin/env python3
"""Command-line client for the gRPC API: transcribe or stream audio files of any format.

python client_grpc.py speech.wav                 # text (All)
python client_grpc.py --pinyin speech.flac       # pinyin (Speech)
python client_grpc.py --stream speech.mp3        # stream in real time, partials as they arrive
cat speech.wav | python client_grpc.py -         # from stdin
"""

from asrt_service.cli.client import main_grpc

if __name__ == "__main__":
    raise SystemExit(main_grpc())
