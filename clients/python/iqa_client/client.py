"""Scoring through the sidecar, with the per-image cache and the one-shot container fallback."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from ._http import Http, expect_json
from .errors import IqaError, LeaseLost, LocalFileError
from .lease import Lease, LeaseClient

CACHE_FILE = "iqa-scores.jsonl"
DEFAULT_COMMAND = ["docker", "run", "--rm", "--cidfile", "{cidfile}", "{gpu_args}", "-v", "{dir}:/in:ro", "{image}",
                   "score", "/in/{file}"]
DEFAULT_GPU_ARGS = ["--gpus", "device={gpu}", "-e", "GPU_LEASE_ID={lease_id}"]


@dataclass(frozen=True)
class ScoreResult:
    """One image's scores: ``served_by`` is ``sidecar``, ``container`` or ``cache``."""
    sha256: str
    scores: Dict[str, float]
    served_by: str
    device: Optional[str] = None


def score_result(answer: Dict[str, Any], served_by: str) -> ScoreResult:
    """A sidecar's ``/infer`` answer (or a ``score`` output line) as a :class:`ScoreResult`."""
    return ScoreResult(answer["sha256"], {k: float(v) for k, v in (answer.get("scores") or {}).items()}, served_by,
                       answer.get("device"))


@dataclass
class Fallback:
    """The container fallback, with the keys (and placeholders) of ``conf/client.json``'s ``fallback`` block."""
    command: List[str] = field(default_factory=lambda: list(DEFAULT_COMMAND))
    gpu_args: List[str] = field(default_factory=lambda: list(DEFAULT_GPU_ARGS))
    image: str = "iqa-sidecar:gpu"
    cpu_image: str = "iqa-sidecar:latest"
    timeout_s: float = 600
    lease_wait_s: float = 30
    lease_ttl_s: float = 60
    gpu: Optional[int] = None
    on_no_lease: str = "cpu"
    search_path: Optional[str] = None
    stop_grace_s: float = 10

    @staticmethod
    def from_json(block: Dict[str, Any]) -> Optional["Fallback"]:
        if block.get("enabled", True) is False:
            return None
        known = {"enabled", "command", "gpu_args", "image", "cpu_image", "timeout_s", "lease_wait_s", "lease_ttl_s",
                 "gpu", "on_no_lease", "search_path", "stop_grace_s"}
        unknown = set(block) - known
        if unknown:
            raise ValueError(f"unknown key(s) in fallback: {sorted(unknown)}")
        return Fallback(**{k: v for k, v in block.items() if k != "enabled"})


class _Cache:
    """Scores by (sha256, model list), bounded; appended to ``dir/iqa-scores.jsonl`` (the Java client's format)."""

    def __init__(self, max_entries: int, directory: Optional[Path]) -> None:
        self.max = max_entries
        self.entries: Dict[str, ScoreResult] = {}
        self.lock = threading.Lock()
        self.file = directory / CACHE_FILE if directory else None
        self.hashes: Dict[Path, tuple] = {}
        if self.file:
            directory.mkdir(parents=True, exist_ok=True)
            if self.file.exists():
                for line in self.file.read_text(encoding="utf-8").splitlines():
                    try:
                        j = json.loads(line)
                        self._keep(j["sha256"] + "|" + j.get("models", ""), ScoreResult(
                            j["sha256"], {k: float(v) for k, v in j.get("scores", {}).items()}, "cache",
                            j.get("device")))
                    except (ValueError, KeyError, TypeError):
                        continue  # a damaged line

    def _keep(self, key: str, r: ScoreResult) -> None:
        if self.max <= 0:
            return
        if len(self.entries) >= self.max and key not in self.entries:
            self.entries.pop(next(iter(self.entries)))
        self.entries[key] = r

    def get(self, sha: str, models: str) -> Optional[ScoreResult]:
        with self.lock:
            r = self.entries.get(sha + "|" + models)
        return None if r is None else ScoreResult(r.sha256, r.scores, "cache", r.device)

    def put(self, models: str, r: ScoreResult) -> None:
        with self.lock:
            self._keep(r.sha256 + "|" + models, r)
            if self.file:
                line = {"sha256": r.sha256, "models": models, "device": r.device, "scores": r.scores}
                try:
                    with open(self.file, "a", encoding="utf-8") as f:
                        f.write(json.dumps(line, separators=(",", ":")) + "\n")
                except OSError:
                    pass  # the score is good and kept in memory; a rerun scores it again

    def sha256_of(self, path: Path) -> str:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise LocalFileError(f"no such file: {path}", "not_found") from None
        except OSError as e:
            raise LocalFileError(f"cannot read {path}: {e}", "unreadable") from None
        if not path.is_file():
            raise LocalFileError(f"not a regular file (a folder, a FIFO or a device): {path}", "not_a_file")
        key = path.resolve()
        known = self.hashes.get(key)
        if known and known[0] == st.st_size and known[1] == st.st_mtime_ns:
            return known[2]
        try:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as e:
            raise LocalFileError(f"cannot read {path}: {e}", "unreadable") from None
        self.hashes[key] = (st.st_size, st.st_mtime_ns, sha)
        return sha


class IqaClient:
    """``IqaClient(sidecar_url=...)``: ``score(path_or_bytes)``, ``score_all(paths)``; the sidecar first, the
    cache before it, the container fallback (under a GPU lease) when the sidecar is unreachable or
    unavailable. A bad image is that image's error (:class:`IqaError` with the v1 code), never a
    reason to fall back; so is a missing or unreadable file (:class:`LocalFileError`)."""

    def __init__(self, sidecar_url: str = "http://127.0.0.1:8471", token: Optional[str] = None,
                 broker_url: Optional[str] = None, broker_token: Optional[str] = None,
                 models: Sequence[str] = (), cache_dir: Optional[Union[str, Path]] = None,
                 cache_max_entries: int = 100_000, timeout_s: float = 120, concurrency: int = 4,
                 fallback: Optional[Fallback] = None, owner: str = "iqa-client") -> None:
        self._sidecar = Http(sidecar_url, token, timeout_s)
        self._models = list(models)
        self._model_key = ",".join(self._models)
        self._cache = _Cache(cache_max_entries, Path(cache_dir) if cache_dir else None)
        self._concurrency = concurrency
        self._fallback = fallback
        self._owner = owner
        self._leases = LeaseClient(broker_url, broker_token)

    @staticmethod
    def from_config(path: Optional[Union[str, Path]] = None, env: Optional[Dict[str, str]] = None) -> "IqaClient":
        """``conf/client.json`` (the Java client's keys; none: the defaults), then the same
        environment overrides as the Java client: ``IQA_CLIENT_<KEY>`` or ``IQA_CLIENT_<BLOCK>_<KEY>``
        (values read as JSON when they parse), then ``GPU_LEASE_URL``/``GPU_LEASE_TOKEN``."""
        env = dict(os.environ if env is None else env)
        c: Dict[str, Any] = json.loads(Path(path).read_text()) if path else {}
        for name, raw in env.items():
            if not name.startswith("IQA_CLIENT_"):
                continue
            key = name[len("IQA_CLIENT_"):].lower()
            try:
                value: Any = json.loads(raw)
            except ValueError:
                value = raw
            block = next((b for b in ("cache", "fallback") if key.startswith(b + "_")), None)
            if block:
                c.setdefault(block, {})[key[len(block) + 1:]] = value
            else:
                c[key] = value
        if env.get("GPU_LEASE_URL"):
            c["broker_url"] = env["GPU_LEASE_URL"]
        if env.get("GPU_LEASE_TOKEN"):
            c["broker_token"] = env["GPU_LEASE_TOKEN"]
        known = {"sidecar_url", "broker_url", "token", "broker_token", "models", "concurrency", "timeout_s", "owner",
                 "self_lease_max_age_s", "cache", "fallback"}
        unknown = set(c) - known
        if unknown:
            raise ValueError(f"unknown client config key(s): {sorted(unknown)}")
        cache = c.get("cache", {})
        return IqaClient(sidecar_url=c.get("sidecar_url", "http://127.0.0.1:8471"), token=c.get("token"),
                         broker_url=c.get("broker_url"), broker_token=c.get("broker_token"),
                         models=c.get("models", []), cache_dir=cache.get("dir"),
                         cache_max_entries=cache.get("max_entries", 100_000), timeout_s=c.get("timeout_s", 120),
                         concurrency=c.get("concurrency", 4), fallback=Fallback.from_json(c.get("fallback", {})),
                         owner=c.get("owner", "iqa-client"))

    # -- scoring ---------------------------------------------------------------------------------------

    def score(self, image: Union[str, Path, bytes]) -> ScoreResult:
        if isinstance(image, (bytes, bytearray)):
            data = bytes(image)
            sha = hashlib.sha256(data).hexdigest()
            path = None
        else:
            path = Path(image)
            sha = self._cache.sha256_of(path)
            data = None
        cached = self._cache.get(sha, self._model_key)
        if cached:
            return cached
        try:
            r = self._infer(data if data is not None else path.read_bytes())
        except IqaError as e:
            if not self._falls_back(e):
                raise
            if path is None:
                tmp = Path(tempfile.mkdtemp(prefix="iqa-bytes-"))
                try:
                    p = tmp / "image"
                    p.write_bytes(data)
                    r = self._container([p])[p]
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            else:
                r = self._container([path])[path]
        self._cache.put(self._model_key, r)
        return r

    def score_all(self, paths: Iterable[Union[str, Path]], concurrency: Optional[int] = None,
                  progress: Optional[Callable[[Path, Union[ScoreResult, IqaError]], None]] = None
                  ) -> Dict[Path, Union[ScoreResult, IqaError]]:
        """Every image's result or its own error, by path; ``progress(path, outcome)`` as each ends."""
        items = [Path(p) for p in paths]
        out: Dict[Path, Union[ScoreResult, IqaError]] = {}

        def one(p: Path) -> None:
            try:
                res: Union[ScoreResult, IqaError] = self.score(p)
            except IqaError as e:
                res = e
            out[p] = res
            if progress:
                progress(p, res)

        with ThreadPoolExecutor(max_workers=concurrency or self._concurrency) as pool:
            list(pool.map(one, items))
        return {p: out[p] for p in items}

    def _infer(self, data: bytes) -> ScoreResult:
        path = "/infer" + ("?models=" + ",".join(self._models) if self._models else "")
        status, raw, headers = self._sidecar.request("POST", path, data, "application/octet-stream")
        return score_result(expect_json(status, raw, headers, 200, "sidecar /infer"), "sidecar")

    def _falls_back(self, e: IqaError) -> bool:
        # Unreachable, or the sidecar cannot serve now (no GPU lease, shutting down, overloaded): the fallback.
        return self._fallback is not None and (e.status == 0 or e.status >= 500 or e.status == 429)

    # -- the container fallback -------------------------------------------------------------------------

    def _container(self, files: List[Path]) -> Dict[Path, ScoreResult]:
        fb = self._fallback
        assert fb is not None
        directory = files[0].resolve().parent
        lease: Optional[Lease] = None
        try:
            lease = self._leases.acquire(self._owner, ttl_s=fb.lease_ttl_s, wait_s=fb.lease_wait_s, gpu=fb.gpu,
                                         purpose="iqa container fallback")
        except (IqaError, LeaseLost) as e:
            if fb.on_no_lease == "fail":
                raise IqaError(f"no GPU lease for the container fallback ({e}); on_no_lease is fail", 503,
                               "gpu_unavailable") from e
        work = Path(tempfile.mkdtemp(prefix="iqa-fallback-"))
        cidfile = work / "cid"
        try:
            args: List[str] = []
            for a in fb.command:
                if a == "{gpu_args}":
                    if lease is not None:
                        args += [g.replace("{gpu}", str(lease.gpu)).replace("{lease_id}", str(lease.lease_id))
                                 for g in fb.gpu_args]
                elif "{file}" in a:
                    args += [a.replace("{file}", f.name) for f in files]
                else:
                    args.append(a.replace("{dir}", str(directory)).replace("{cidfile}", str(cidfile))
                                .replace("{image}", fb.image if lease is not None else fb.cpu_image))
            exe = shutil.which(args[0], path=fb.search_path or os.environ.get("PATH"))
            if exe is None:
                raise IqaError(f"fallback executable {args[0]!r} not found on PATH; install it or set fallback.command")
            args[0] = exe
            stop = threading.Event()
            if lease is not None:
                lease.on_lost(lambda loss: stop.set())
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            out_chunks: List[bytes] = []
            reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True)
            reader.start()
            deadline = fb.timeout_s
            waited = 0.0
            while proc.poll() is None and waited < deadline and not stop.is_set():
                try:
                    proc.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    waited += 0.1
            if proc.poll() is None:
                self._stop_container(proc, cidfile, exe, fb.stop_grace_s)
                why = "its GPU lease was lost" if stop.is_set() else f"it timed out after {fb.timeout_s} s"
                raise IqaError(f"fallback run stopped: {why}", 503, "unavailable")
            reader.join(10)
            err = proc.stderr.read().decode("utf-8", "replace")
            by_name: Dict[str, Dict[str, Any]] = {}
            for line in b"".join(out_chunks).decode("utf-8", "replace").splitlines():
                try:
                    j = json.loads(line)
                except ValueError:
                    continue  # a log line on stdout
                if isinstance(j, dict) and "path" in j:
                    by_name[os.path.basename(j["path"])] = j
            results: Dict[Path, ScoreResult] = {}
            for f in files:
                j = by_name.get(f.name)
                if j is None:
                    raise IqaError(f"fallback run exited {proc.returncode} without an answer for {f}: {err[-800:]}")
                if j.get("error"):
                    raise IqaError(f"{f}: {j.get('message')}", 400, j["error"])
                results[f] = score_result(j, "container")
            return results
        finally:
            if lease is not None:
                lease.close()  # the container has exited (or was stopped): the GPU is free
            shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def _stop_container(proc: subprocess.Popen, cidfile: Path, exe: str, grace_s: float) -> None:
        # The container belongs to the engine, not to this process group: stop it by its id first.
        if cidfile.exists():
            cid = cidfile.read_text().strip()
            if cid:
                subprocess.run([exe, "kill", cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace_s)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)

    # -- the sidecar's GPU -------------------------------------------------------------------------------

    def release_sidecar_gpu(self) -> Dict[str, Any]:
        """``POST /release``: the sidecar gives the GPU back now (its worker stops); the next new image takes it again."""
        return self._sidecar.json("POST", "/release", {}, what="sidecar /release")

    def shutdown_sidecar(self) -> Dict[str, Any]:
        """``POST /shutdown``: the sidecar drains, frees its GPU memory, releases its lease and exits."""
        return self._sidecar.json("POST", "/shutdown", {}, what="sidecar /shutdown")

    def health(self) -> Dict[str, Any]:
        return self._sidecar.json("GET", "/health", what="sidecar /health")

    def models(self) -> List[Dict[str, Any]]:
        return self._sidecar.json("GET", "/v1/models", what="sidecar /v1/models").get("models", [])

    def close(self) -> None:
        self._leases.close()

    def __enter__(self) -> "IqaClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
