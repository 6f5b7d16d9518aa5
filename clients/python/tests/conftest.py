"""Real processes for the Python client's tests: the lease broker and the sidecar jars Maven built
(``mvn -DskipTests package``; ``scripts/test`` runs these tests after ``mvn verify``)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "clients" / "python"))
BROKER_JAR = ROOT / "lease-broker" / "target" / "lease-broker.jar"
SIDECAR_JAR = ROOT / "sidecar" / "target" / "iqa-sidecar.jar"
IQA_JAR = ROOT / "iqa-cli" / "target" / "iqa.jar"
LISTENING = re.compile(r" listening on (http://\S+)")


def _need(jar: Path) -> None:
    if not jar.is_file():
        message = f"{jar} is missing: build it first (mvn -B -DskipTests package)"
        if os.environ.get("IQA_REQUIRE_JARS") == "1":
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process started with ``java -jar``; its URL from its listening line, its log kept."""

    def __init__(self, name: str, args: List[str], log: Path, env: Optional[Dict[str, str]] = None) -> None:
        self.name, self.args, self.log, self.env = name, args, log, env
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""
        self.start()

    def start(self) -> "Server":
        full_env = dict(os.environ)
        full_env.update(self.env or {})
        self.proc = subprocess.Popen(["java", "-Xmx256m", "-jar"] + self.args, stdout=subprocess.PIPE,
                                     stderr=open(self.log, "ab"), env=full_env, text=True)
        found: List[str] = []
        done = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                m = LISTENING.search(line)
                if m and not found:
                    found.append(m.group(1))
                    done.set()
            done.set()

        threading.Thread(target=read, daemon=True).start()
        if not done.wait(90) or not found:
            self.proc.kill()
            raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-3000:]}")
        self.url = found[0]
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


@pytest.fixture
def broker(tmp_path: Path):
    """A broker with one whole-device gpu 0 and a state file in the test's folder."""
    _need(BROKER_JAR)
    port = free_port()
    conf = tmp_path / "broker.json"
    conf.write_text(json.dumps({"host": "127.0.0.1", "port": port, "gpus": [{"index": 0, "vram_mb": 0}],
                                "state_file": str(tmp_path / "broker-state.jsonl"), "observe_interval_ms": 0}))
    s = Server("lease-broker", [str(BROKER_JAR), "--conf", str(conf), "--fresh"], tmp_path / "broker.log")
    s.conf = conf  # type: ignore[attr-defined]
    yield s
    s.stop()


@pytest.fixture
def sidecar(tmp_path: Path, broker: Server):
    """A sidecar with the default model set, leasing gpu 0 from the broker."""
    _need(SIDECAR_JAR)
    conf = tmp_path / "sidecar.json"
    models = json.loads((ROOT / "conf" / "sidecar.json").read_text())["models"]
    conf.write_text(json.dumps({"host": "127.0.0.1", "port": 0, "models": models, "broker": {"url": broker.url},
                                "lease": {"owner": "iqa-sidecar", "wait_s": 10, "ttl_s": 30, "required": True},
                                "worker": {"warmup": False}}))
    s = Server("iqa-sidecar", [str(SIDECAR_JAR), "serve", "--conf", str(conf)], tmp_path / "sidecar.log")
    yield s
    s.stop()


def wait_until(check, timeout_s: float = 30, what: str = "a condition") -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")
