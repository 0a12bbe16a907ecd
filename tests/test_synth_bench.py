"""The sleeping benchmark engine: registered only by the harness's wrappers (scripts/bench_node.py,
scripts/bench_leader.py), speed from the environment, audio of a voice's length that is the same
bytes for the same text."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from e2a_node.errors import EngineError
from e2a_node.synth import ENGINES, all_voices, bench, load_engine, resolve_voice, unregister_engine
from e2a_node.synth.base import VoiceSettings, VoiceTraits
from tests.conftest import ROOT, SAMPLE


@pytest.fixture
def registered():
    bench.register()
    yield
    unregister_engine(bench.NAME)


def test_not_registered_by_importing_the_registry_even_with_the_old_switch():
    code = "import json; from e2a_node.synth import ENGINES; print(json.dumps(sorted(ENGINES)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "E2A_BENCHMARK_ENGINE": "1"})  # what once registered it
    assert json.loads(run.stdout) == ["coqui", "piper"]


def test_registered_on_request_but_never_listed_as_a_voice(registered):
    assert "bench" in ENGINES
    assert "bench" not in [v.engine for v in all_voices()]
    settings = VoiceSettings(engine="bench")
    assert resolve_voice(settings, "en") == settings
    assert load_engine(settings).name == "bench"


def _wrapper(script: str, *args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})


def test_bench_node_serves_the_bench_engine(tmp_path):
    node = _wrapper("bench_node.py", "serve", "--host", "127.0.0.1", "--port", "0", "--engine", "bench",
                    "--no-mdns", "--state-dir", str(tmp_path), env={"PYTHONUNBUFFERED": "1"})
    try:
        seen = []
        for line in node.stdout:  # log lines may come first; EOF if the node gave up
            seen.append(line)
            if "listening on" in line:
                break
        assert "listening on 127.0.0.1:" in line and "engines bench;" in line, "".join(seen)
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=30)


def test_bench_leader_converts_with_the_bench_engine(tmp_path):
    out = tmp_path / "book.wav"
    leader = _wrapper("bench_leader.py", "convert", str(SAMPLE), "--engine", "bench", "-o", str(out),
                      "--work-dir", str(tmp_path / "work"), env={bench.SPEED_ENV: "1e6"})
    output, _ = leader.communicate(timeout=120)
    assert leader.returncode == 0, output
    assert out.stat().st_size > 0 and "4 chapters" in output


def test_traits_are_the_same_whatever_the_speed(monkeypatch):
    monkeypatch.delenv(bench.SAMPLE_RATE_ENV, raising=False)
    monkeypatch.setenv(bench.SPEED_ENV, "50")
    slow = bench.load(VoiceSettings(engine="bench"))
    monkeypatch.setenv(bench.SPEED_ENV, "5000")
    fast = bench.load(VoiceSettings(engine="bench"))
    assert (slow.chars_per_second, fast.chars_per_second) == (50.0, 5000.0)
    assert VoiceTraits.of(slow) == VoiceTraits.of(fast)
    assert (fast.name, fast.sample_rate, fast.max_chars, fast.fingerprint, fast.language) == (
        "bench", 22050, 400, "bench:v1:22050", "en-US")
    assert fast.deterministic and fast.normalizes_numbers
    assert bench.available() and bench.voices() == []


def test_default_speed(monkeypatch):
    monkeypatch.delenv(bench.SPEED_ENV, raising=False)
    assert bench.load(VoiceSettings(engine="bench")).chars_per_second == 200.0


def test_sleeps_as_long_as_the_speed_says(monkeypatch):
    monkeypatch.setenv(bench.SPEED_ENV, "2000")
    engine = bench.load(VoiceSettings(engine="bench"))
    text = "x" * 200  # 0.1 s at 2000 chars/s
    t0 = time.perf_counter()
    engine.synthesize(text)
    took = time.perf_counter() - t0
    assert 0.095 <= took < 0.6


def test_audio_length_and_bytes(monkeypatch):
    monkeypatch.delenv(bench.SAMPLE_RATE_ENV, raising=False)
    monkeypatch.setenv(bench.SPEED_ENV, "1e6")
    engine = bench.load(VoiceSettings(engine="bench"))
    text = "It was the best of times, it was the worst of times."
    pcm = engine.synthesize(text)
    assert len(pcm) % 2 == 0
    seconds = len(pcm) / 2 / engine.sample_rate
    assert seconds == pytest.approx(len(text) / 15, rel=1e-3)
    assert pcm == engine.synthesize(text, seed=123)  # same text, same bytes (seed ignored)
    assert pcm != engine.synthesize(text[:-1] + "!")  # another text has its own tone
    assert any(pcm)  # a tone, not silence
    assert max(abs(int.from_bytes(pcm[k:k + 2], "little", signed=True))
               for k in range(0, 4000, 2)) <= bench.AMPLITUDE
    assert engine.synthesize("a")  # never empty for non-empty text
    assert engine.synthesize("") == b""


def test_same_bytes_in_another_process_at_another_speed(monkeypatch):
    monkeypatch.setenv(bench.SPEED_ENV, "1e6")
    text = "Call me Ishmael."
    here = bench.load(VoiceSettings(engine="bench")).synthesize(text)
    code = ("import sys, hashlib; from e2a_node.synth import bench;"
            "from e2a_node.synth.base import VoiceSettings;"
            f"print(hashlib.sha256(bench.load(VoiceSettings()).synthesize({text!r})).hexdigest())")
    env = dict(os.environ, **{bench.SPEED_ENV: "123456"})
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert run.stdout.strip() == hashlib.sha256(here).hexdigest()


@pytest.mark.parametrize("value", ["fast", "0", "-3", "nan", "inf"])
def test_bad_speed_is_a_one_line_engine_error(monkeypatch, value):
    monkeypatch.setenv(bench.SPEED_ENV, value)
    with pytest.raises(EngineError) as info:
        bench.load(VoiceSettings(engine="bench"))
    message = str(info.value)
    assert bench.SPEED_ENV in message and "\n" not in message


def test_sample_rate_from_the_env_changes_bytes_and_fingerprint_not_duration(monkeypatch):
    monkeypatch.setenv(bench.SPEED_ENV, "1e6")
    monkeypatch.delenv(bench.SAMPLE_RATE_ENV, raising=False)
    default = bench.load(VoiceSettings(engine="bench"))
    monkeypatch.setenv(bench.SAMPLE_RATE_ENV, "8000")
    small = bench.load(VoiceSettings(engine="bench"))
    assert (default.sample_rate, small.sample_rate) == (22050, 8000)
    assert VoiceTraits.of(small).sample_rate == 8000
    # nodes at another rate have another fingerprint: a leader refuses them
    assert small.fingerprint == "bench:v1:8000" != default.fingerprint
    text = "The game is afoot, said Holmes."
    pcm = small.synthesize(text)
    assert len(pcm) / 2 / 8000 == pytest.approx(len(text) / 15, rel=1e-3)
    assert len(pcm) < len(default.synthesize(text)) / 2.5


@pytest.mark.parametrize("value", ["fast", "22050.5", "7999", "48001", "-8000"])
def test_bad_sample_rate_is_a_one_line_engine_error(monkeypatch, value):
    monkeypatch.setenv(bench.SAMPLE_RATE_ENV, value)
    with pytest.raises(EngineError) as info:
        bench.load(VoiceSettings(engine="bench"))
    message = str(info.value)
    assert bench.SAMPLE_RATE_ENV in message and "\n" not in message
