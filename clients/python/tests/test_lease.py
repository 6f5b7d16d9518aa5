"""The Python lease client against a real broker process: the same holder rules as the Java client."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import IQA_JAR, _need, wait_until
from iqa_client import IqaError, LeaseClient, LeaseLost


def leases_on_gpu0(client: LeaseClient):
    return client.status()["gpus"][0]["leases"]


def test_acquire_renew_release(broker):
    with LeaseClient(broker.url) as c:
        lease = c.acquire("py-holder", ttl_s=1.5, gpu=0)
        assert lease.gpu == 0 and lease.lease_id > 0
        assert lease.cuda_env() == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "0",
                                    "GPU_LEASE_ID": str(lease.lease_id)}
        time.sleep(4)  # more than two ttls: only renews keep it
        assert lease.valid(), lease.loss
        held = leases_on_gpu0(c)
        assert [l["lease_id"] for l in held] == [lease.lease_id]
        assert "token" not in json.dumps(c.status())
        assert lease.close() is True
        assert leases_on_gpu0(c) == []
        assert any(e["type"] == "released" and e["lease_id"] == lease.lease_id for e in c.events())


def test_a_busy_gpu_is_gpu_busy_and_an_unreachable_broker_is_status_0(broker):
    with LeaseClient(broker.url) as c, c.acquire("first", ttl_s=10, gpu=0):
        with pytest.raises(IqaError) as busy:
            c.acquire("second", ttl_s=10, gpu=0, wait_s=0)
        assert busy.value.status == 409 and busy.value.code == "gpu_busy"
    with pytest.raises(IqaError) as gone:
        LeaseClient("http://127.0.0.1:1").acquire("x")
    assert gone.value.status == 0


def test_a_grant_that_waited_longer_than_its_ttl_is_kept(broker):
    """The rule that once killed every grant that waited over 2/3 of its ttl: wait 5 s for a 3 s ttl."""
    with LeaseClient(broker.url) as c:
        first = c.acquire("first", ttl_s=3, gpu=0)
        threading.Timer(5, first.close).start()
        t0 = time.monotonic()
        lease = c.acquire("waiter", ttl_s=3, gpu=0, wait_s=20)
        waited = time.monotonic() - t0
        assert waited > 4.5
        time.sleep(4)  # beyond its ttl after the grant: renewed, not lost
        assert lease.valid(), lease.loss
        lease.close()


def test_a_revocation_is_heard_within_a_second_on_the_watch_channel(broker):
    with LeaseClient(broker.url) as c:
        heard = threading.Event()
        lease = c.acquire("victim", ttl_s=60, gpu=0, on_lost=lambda loss: heard.set())
        time.sleep(0.5)  # the watch is open
        t0 = time.monotonic()
        c.force_release(lease_id=lease.lease_id, reason="operator needs gpu 0")
        assert heard.wait(5)
        took = time.monotonic() - t0
        assert took < 1.0, f"heard after {took:.2f} s"
        assert lease.loss.revoked and not lease.valid()
        waiter = threading.Thread(target=lambda: c.acquire("next", ttl_s=10, gpu=0, wait_s=10).close())
        waiter.start()
        time.sleep(0.3)
        assert [l["owner"] for l in leases_on_gpu0(c)] == ["victim"], "revoking: the GPU waits for the release"
        lease.close()  # confirms: the GPU moves on
        waiter.join(15)
        assert any(e["type"] == "revoke_confirmed" for e in c.events())


def test_a_yield_request_reaches_a_yieldable_holder(broker):
    with LeaseClient(broker.url) as c:
        asked = threading.Event()
        lease = c.acquire("sharer", ttl_s=30, gpu=0, yield_=True, on_yield_requested=lambda m: asked.set())
        got = []
        t = threading.Thread(target=lambda: got.append(c.acquire("other", ttl_s=10, gpu=0, wait_s=15)))
        t.start()
        assert asked.wait(5), "no yield request"
        # Heard as it happened, the message names the waiter; read from the lease (the watch opened
        # after the request), it names the GPU.
        message = lease.yield_requested
        assert isinstance(message, str) and ("'other'" in message or "gpu 0 is wanted" in message), message
        lease.close("yielded")
        t.join(15)
        assert got and got[0].valid()
        got[0].close()
        assert any(e["type"] == "released" and e.get("reason") == "yielded" for e in c.events())


def test_the_holders_own_deadline_when_the_broker_stops_answering(broker):
    with LeaseClient(broker.url, timeout_s=2) as c:
        lost = []
        lease = c.acquire("paused-broker", ttl_s=3, gpu=0, on_lost=lost.append)
        t0 = time.monotonic()
        broker.pause()
        try:
            wait_until(lambda: bool(lost), 10, "the loss by the deadline")
            took = time.monotonic() - t0
            assert lost[0].reason == "deadline", lost[0]
            assert took < 3.0, f"lost after {took:.2f} s: the deadline is the ttl from the last renew, less a margin"
            assert not lease.valid()
        finally:
            broker.resume()
        lease.close()


def test_a_broker_restart_keeps_the_lease(broker, tmp_path: Path):
    with LeaseClient(broker.url) as c:
        lease = c.acquire("survivor", ttl_s=6, gpu=0)
        time.sleep(0.5)
        broker.kill9()
        broker.args = [a for a in broker.args if a != "--fresh"]
        broker.start()
        time.sleep(8)  # more than the ttl: renewed against the restarted broker
        assert lease.valid(), lease.loss
        assert [l["lease_id"] for l in leases_on_gpu0(c)] == [lease.lease_id]
        assert lease.close() is True


def test_python_and_java_holders_on_one_broker_never_overlap(broker, tmp_path: Path):
    """Python holders and `iqa gpu run` (the Java client) holders record when they used gpu 0."""
    _need(IQA_JAR)
    log = tmp_path / "uses.txt"
    lock = threading.Lock()

    def py_holder(name: str) -> None:
        with LeaseClient(broker.url) as c:
            for _ in range(4):
                with c.acquire(name, ttl_s=5, gpu=0, wait_s=60) as lease:
                    start = time.time_ns()
                    time.sleep(0.2)
                    assert lease.valid()
                    with lock, open(log, "a") as f:
                        f.write(f"{name} {start} {time.time_ns()}\n")

    java_cmd = ["java", "-jar", str(IQA_JAR), "--broker-url", broker.url, "gpu", "run", "--owner", "java-holder",
                "--gpu", "0", "--wait-s", "60", "--ttl-s", "5", "--", "bash", "-c",
                f"s=$(date +%s%N); sleep 0.2; echo \"java $s $(date +%s%N)\" >> {log}"]
    threads = [threading.Thread(target=py_holder, args=(f"py-{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    javas = [subprocess.Popen(java_cmd) for _ in range(3)]
    for t in threads:
        t.join(120)
    for j in javas:
        assert j.wait(120) == 0
    uses = sorted((int(a), int(b), who) for who, a, b in (l.split() for l in log.read_text().splitlines()))
    assert len(uses) == 15, uses
    assert sum(1 for u in uses if u[2] == "java") == 3
    for (a0, b0, w0), (a1, b1, w1) in zip(uses, uses[1:]):
        assert b0 <= a1, f"{w0} used gpu 0 until {b0}, {w1} from {a1}: overlap"
