"""Synthetic Mandarin corpus builder: text selection, TTS engines, augmentation.

Entry point: :func:`asrt_service.training.corpus.builder.build` (CLI:
``asrt-service build-corpus``). See docs/CORPUS.md.
"""
