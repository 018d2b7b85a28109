"""Shared fixtures: the reference data folder, one Whisper model per session, a private cache,
the fast voices."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Point VOICESIM_CACHE at a session temp dir so no test writes in the user's home, and
    speak with the fast voices (VOICESIM_VOICES=fast): hibari at each persona's own pitch and
    pace renders a line some fifty times faster than the personas' Kokoro voices, which a
    suite of many calls from a cold cache cannot afford. The tests of the Kokoro voices
    themselves (test_voices.py) ask for them by name."""
    cache = tmp_path_factory.mktemp("voicesim-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOICESIM_CACHE", str(cache))
        mp.setenv("VOICESIM_VOICES", "fast")
        yield cache


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference recordings folder (../shared/data from the project root)."""
    if not (SHARED_DATA / "speech").is_dir():
        pytest.skip(
            f"reference data not found at {SHARED_DATA} (expected ../shared/data next to the "
            "project root, with speech/jfk.flac, phone_call.wav, ...)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def speech_dir(shared_data) -> Path:
    return shared_data / "speech"


@pytest.fixture(scope="session")
def transcriber():
    """One Transcriber with default options (the bundled tiny.en), loaded once per session."""
    from voicesim.speech.transcriber import Transcriber

    return Transcriber()


@pytest.fixture(scope="module")
def pg_cluster():
    """A private PostgreSQL server for the lab's store tests (one per test module); skipped
    where PostgreSQL is not installed, a failure where it is but does not start."""
    import subprocess

    from lab_support import PgCluster

    try:
        cluster = PgCluster()
    except RuntimeError as exc:
        pytest.skip(f"no PostgreSQL server for the lab tests: {exc}")
    try:
        cluster.start()
    except subprocess.CalledProcessError as exc:
        cluster.stop()
        pytest.fail(f"PostgreSQL is installed but did not start: {exc.stderr or exc.stdout}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def local_ray():
    """A real local Ray (two CPUs), started once for the tests that score folders and stopped
    at the end; `voicesim score DIR` uses it instead of starting its own."""
    import ray

    from voicesim.report.archive import start_local_ray

    start_local_ray(2)
    yield ray
    ray.shutdown()
