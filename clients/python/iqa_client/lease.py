"""GPU leases from the broker, with the same holder rules as the Java client (``LeaseRules``):

* the holder's own deadline is never later than the broker's ``expires_at``: a grant counts from the
  request's send time plus the ``queued_ms`` the broker says it held it, plus the ttl; a renew from
  its send time plus the ttl;
* a renew is sent when two thirds of the ttl remain before that deadline (a grant that waited renews
  at the same point of its life as one that did not);
* no renew succeeding, the lease is lost a margin (a tenth of the ttl, at most 2 s) before the
  deadline, whatever the broker answers or fails to answer;
* a revocation, an end or a yield request is heard at once on the watch channel
  (``GET /v1/gpu/lease/watch``, server-sent events);
* a revoked lease (or one lost by the deadline) is released on close, which confirms to the broker
  that the holder stopped.

Times are ``time.monotonic_ns()``. Callbacks run on the lease's own thread: keep them short.
"""
from __future__ import annotations

import http.client
import json
import os
import queue
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from ._http import Http
from .errors import IqaError, LeaseLost

REVOCATIONS = {"force_released", "stale", "revoked"}


@dataclass(frozen=True)
class Loss:
    reason: str
    message: str
    revoked: bool


class LeaseRules:
    """The holder's rules for one granted lease, without I/O: events in, actions out."""

    def __init__(self, lease_id: int, sent_at: int, queued_ns: int, ttl_ns: int) -> None:
        self.lease_id = lease_id
        self.ttl = ttl_ns
        self.margin = min(ttl_ns // 10, 2_000_000_000)
        self.deadline = sent_at + max(0, queued_ns) + ttl_ns
        self.renew_at = self.deadline - 2 * ttl_ns // 3
        self.renew_sent_at = -1
        self.phase = "held"
        self.loss: Optional[Loss] = None
        self.yield_message: Optional[str] = None

    def next_wake(self) -> int:
        loss_at = self.deadline - self.margin
        return loss_at if self.renew_sent_at >= 0 else min(self.renew_at, loss_at)

    def valid(self, now: int) -> bool:
        return self.phase == "held" and now < self.deadline - self.margin

    def remaining_ns(self, now: int) -> int:
        return 0 if self.phase == "closed" else max(0, self.deadline - self.margin - now)

    def handle(self, kind: str, now: int, **e: Any) -> List[tuple]:
        out: List[tuple] = []
        if kind == "halt":
            if self.phase != "closed":
                self.phase = "closed"
                out.append(("close_watch",))
            return out
        if self.phase == "held":
            self._held(kind, now, e, out)
        elif self.phase == "lost" and kind == "close":
            self.phase = "closed"
            assert self.loss is not None
            if self.loss.revoked or self.loss.reason == "deadline":
                out.append(("send_release", e.get("reason")))
        return out

    def _held(self, kind: str, now: int, e: Dict[str, Any], out: List[tuple]) -> None:
        if kind == "tick":
            self._tick(now, out)
        elif kind == "renew_ok":
            self.renew_sent_at = -1
            self.deadline = max(self.deadline, e["sent_at"] + e["ttl_ns"])
            self.renew_at = self.deadline - 2 * self.ttl // 3
            out.append(("deadline", self.deadline))
            self._tick(now, out)
        elif kind == "renew_refused":
            self._lose(Loss(e["reason"], e["message"], e["reason"] in REVOCATIONS), out)
        elif kind == "renew_failed":
            self.renew_sent_at = -1
            self.renew_at = now + min(self.ttl // 10, 1_000_000_000)
            self._tick(now, out)
        elif kind == "revoked":
            self._lose(Loss(e["reason"], e["message"], True), out)
        elif kind == "ended":
            self._lose(Loss(e["reason"], f"lease {self.lease_id} ended: {e['reason']}", e["reason"] in REVOCATIONS),
                       out)
        elif kind == "yield_asked":
            if self.yield_message is None:
                self.yield_message = e["message"]
                out.append(("yield_requested", e["message"]))
        elif kind == "close":
            self.phase = "closed"
            out.append(("close_watch",))
            out.append(("send_release", e.get("reason")))

    def _tick(self, now: int, out: List[tuple]) -> None:
        if now >= self.deadline - self.margin:
            self._lose(Loss("deadline", f"no renew of lease {self.lease_id} succeeded within its ttl of "
                            f"{self.ttl / 1e9} s: stopping by the holder's own deadline", False), out)
            return
        if now >= self.renew_at and self.renew_sent_at < 0:
            self.renew_sent_at = now
            out.append(("send_renew", now, max(100_000_000, min(self.ttl // 3, self.deadline - now))))
        out.append(("wake_at", self.next_wake()))

    def _lose(self, why: Loss, out: List[tuple]) -> None:
        self.phase = "lost"
        self.loss = why
        out.append(("lost", why))
        out.append(("close_watch",))


class Lease:
    """A granted lease: renewed and watched on its own thread until :meth:`close` (or the ``with``
    block's end) releases it."""

    def __init__(self, broker: Http, granted: Dict[str, Any], sent_at: int,
                 on_closed: Callable[["Lease"], None]) -> None:
        self._broker = broker
        self.lease_id: int = int(granted["lease_id"])
        self.gpu: int = int(granted["gpu"])
        self.owner: str = granted.get("owner", "")
        self.vram_mb: int = int(granted.get("vram_mb") or 0)
        self.exclusive: bool = granted.get("exclusive", True) is not False
        self.ttl_s: float = float(granted.get("ttl_s") or 0)
        self._token: str = granted["token"]
        self._rules = LeaseRules(self.lease_id, sent_at, int(granted.get("queued_ms") or 0) * 1_000_000,
                                 int(self.ttl_s * 1e9))
        self._events: "queue.Queue[tuple]" = queue.Queue()
        self._lock = threading.RLock()
        self._on_lost: List[Callable[[Loss], None]] = []
        self._on_yield: List[Callable[[str], None]] = []
        self._released = threading.Event()
        self._release_ok: Optional[bool] = None
        self._watch_closed = threading.Event()
        self._watch_conn: Optional[http.client.HTTPConnection] = None
        self._on_closed = on_closed
        self._wake_at = self._rules.next_wake()
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.lease_id}", daemon=True)
        self._watcher = threading.Thread(target=self._watch, name=f"lease-{self.lease_id}-watch", daemon=True)

    def _start(self) -> "Lease":
        # A first tick before the holder sees the lease: a grant whose answer came after its deadline
        # is already lost (``loss`` set), not lost a moment later on the lease's thread.
        with self._lock:
            actions = self._rules.handle("tick", time.monotonic_ns())
        self._carry_out(actions)
        self._thread.start()
        self._watcher.start()
        return self

    # -- what the holder asks ----------------------------------------------------------------------

    def valid(self) -> bool:
        """Whether the GPU may be used now: held, and the holder's own deadline (less its margin) not passed."""
        with self._lock:
            return self._rules.valid(time.monotonic_ns())

    def remaining_s(self) -> float:
        with self._lock:
            return self._rules.remaining_ns(time.monotonic_ns()) / 1e9

    @property
    def loss(self) -> Optional[Loss]:
        return self._rules.loss

    @property
    def yield_requested(self) -> Optional[str]:
        return self._rules.yield_message

    def cuda_env(self) -> Dict[str, str]:
        """The environment of a process that may use this lease's GPU and no other."""
        return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": str(self.gpu),
                "GPU_LEASE_ID": str(self.lease_id)}

    def on_lost(self, callback: Callable[[Loss], None]) -> "Lease":
        """``callback(loss)`` once the lease is revoked or lost (at once if it already is)."""
        return self._listen(self._on_lost, callback, lambda: self._rules.loss)

    def on_yield_requested(self, callback: Callable[[str], None]) -> "Lease":
        """``callback(message)`` when a waiter asks this (yieldable) holder for the GPU."""
        return self._listen(self._on_yield, callback, lambda: self._rules.yield_message)

    def _listen(self, callbacks: list, callback: Callable, current: Callable) -> "Lease":
        """Adds ``callback`` to ``callbacks``, and calls it at once with ``current()`` if that has come."""
        with self._lock:
            callbacks.append(callback)
            now = current()
        if now is not None:
            callback(now)
        return self

    def close(self, reason: Optional[str] = None, timeout_s: float = 15.0) -> Optional[bool]:
        """Releases the lease (for a revoked one: confirms the holder stopped), with ``reason`` for
        the broker's event (``yielded``, ``idle``). Returns whether the broker confirmed the
        release (None: there was nothing to release)."""
        self._events.put(("close", reason))
        self._released.wait(timeout_s)
        return self._release_ok

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Lease(id={self.lease_id}, gpu={self.gpu}, owner={self.owner!r})"

    # -- the lease's own thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            # Held: wake for the next renew or the deadline; lost: only the holder's close is awaited.
            timeout = max(0.0, (self._wake_at - time.monotonic_ns()) / 1e9) if self._rules.phase == "held" else None
            try:
                ev = self._events.get(timeout=timeout)
            except queue.Empty:
                ev = ("tick",)
            now = time.monotonic_ns()
            kind = ev[0]
            finish_now = False
            with self._lock:
                if kind == "tick":
                    actions = self._rules.handle("tick", now)
                elif kind == "renew_ok":
                    actions = self._rules.handle("renew_ok", now, sent_at=ev[1], ttl_ns=ev[2])
                elif kind == "renew_refused":
                    actions = self._rules.handle("renew_refused", now, reason=ev[1], message=ev[2])
                elif kind == "renew_failed":
                    actions = self._rules.handle("renew_failed", now)
                elif kind in ("revoked", "ended"):
                    actions = self._rules.handle(kind, now, reason=ev[1], message=ev[2] if len(ev) > 2 else "")
                elif kind == "yield_asked":
                    actions = self._rules.handle("yield_asked", now, message=ev[1])
                elif kind == "close":
                    actions = self._rules.handle("close", now, reason=ev[1])
                    # Nothing to send (an ended lease, a second close): the close is done now.
                    finish_now = not any(a[0] == "send_release" for a in actions) and not self._released.is_set()
                else:
                    actions = []
            self._carry_out(actions)
            if finish_now:
                self._finish(None)
            if self._rules.phase == "closed" and self._released.is_set():
                return

    def _carry_out(self, actions: List[tuple]) -> None:
        for a in actions:
            if a[0] == "wake_at":
                self._wake_at = a[1]
            elif a[0] == "send_renew":
                threading.Thread(target=self._renew, args=(a[1], a[2]), daemon=True).start()
            elif a[0] == "lost":
                for cb in list(self._on_lost):
                    _call(cb, a[1])
            elif a[0] == "yield_requested":
                for cb in list(self._on_yield):
                    _call(cb, a[1])
            elif a[0] == "close_watch":
                self._close_watch()
            elif a[0] == "send_release":
                self._release(a[1])

    def _renew(self, sent_at: int, timeout_ns: int) -> None:
        try:
            status, raw, _ = self._broker.request("POST", "/v1/gpu/renew", json.dumps({"token": self._token}).encode(),
                                                  "application/json", timeout_ns / 1e9)
        except IqaError as e:
            self._events.put(("renew_failed", str(e)))
            return
        body = _parse(raw)
        if status == 200:
            self._events.put(("renew_ok", sent_at, int(float(body.get("ttl_s", self.ttl_s)) * 1e9)))
        elif status in (404, 410):
            self._events.put(("renew_refused", body.get("reason") or body.get("error") or "unknown_lease",
                              f"lease {self.lease_id}: {body.get('message', status)}"))
        else:
            self._events.put(("renew_failed", f"{status}"))

    def _release(self, reason: Optional[str]) -> None:
        body: Dict[str, Any] = {"token": self._token}
        if reason:
            body["reason"] = reason
        ok = False
        try:
            status, _, _ = self._broker.request("POST", "/v1/gpu/release", json.dumps(body).encode(),
                                                "application/json", 10)
            ok = status == 200
        except IqaError:
            ok = False
        self._finish(ok)

    def _finish(self, ok: Optional[bool]) -> None:
        self._release_ok = ok
        self._released.set()
        self._on_closed(self)

    # -- the watch channel ---------------------------------------------------------------------------

    def _close_watch(self) -> None:
        self._watch_closed.set()
        conn = self._watch_conn
        if conn is not None:
            try:
                if conn.sock is not None:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                conn.close()
            except OSError:
                pass

    def _watch(self) -> None:
        backoff = 0.25
        url = urllib.parse.urlsplit(self._broker.base)
        while not self._watch_closed.is_set():
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
            self._watch_conn = conn
            try:
                headers = {"Lease-Token": self._token, "Accept": "text/event-stream"}
                if self._broker.token:
                    headers["Authorization"] = "Bearer " + self._broker.token
                conn.request("GET", url.path.rstrip("/") + "/v1/gpu/lease/watch", headers=headers)
                r = conn.getresponse()
                if r.status in (404, 410):
                    body = _parse(r.read())
                    self._events.put(("ended", body.get("reason") or ("unknown_lease" if r.status == 404 else "ended")))
                    return
                if r.status != 200:
                    r.read()
                else:
                    backoff = 0.25
                    self._read_frames(r)
            except Exception:  # noqa: BLE001 - a dropped or closed stream (closing it from another thread ends
                # http.client's read with whatever it was doing): reopened below unless the watch is closed
                pass
            finally:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
            if self._watch_closed.wait(backoff):
                return
            backoff = min(5.0, backoff * 2)

    def _read_frames(self, r: http.client.HTTPResponse) -> None:
        event: Optional[str] = None
        data: List[str] = []
        while not self._watch_closed.is_set():
            raw = r.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if event is not None:
                    self._on_frame(event, _parse("".join(data).encode()))
                event, data = None, []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())

    def _on_frame(self, event: str, data: Dict[str, Any]) -> None:
        if event == "revoked":
            reason = data.get("reason", "force_released")
            by = f" by {data['by']}" if isinstance(data.get("by"), str) else ""
            why = f": {data['message']}" if isinstance(data.get("message"), str) else ""
            self._events.put(("revoked", reason, f"lease {self.lease_id} revoked ({reason}{by}{why})"))
        elif event == "yield_requested":
            message = data.get("message")
            self._events.put(("yield_asked", message if isinstance(message, str) else f"a waiter wants gpu {self.gpu}"))
        elif event == "ended":
            self._events.put(("ended", data.get("reason", data.get("event", "ended"))))


class LeaseClient:
    """The broker's lease API: ``with LeaseClient(url).acquire("llm", ttl_s=60) as lease: ...``.

    ``broker_url`` defaults to ``GPU_LEASE_URL`` (then ``http://127.0.0.1:8470``), ``token`` to
    ``GPU_LEASE_TOKEN``, as every script and the Java client read them."""

    def __init__(self, broker_url: Optional[str] = None, token: Optional[str] = None,
                 timeout_s: float = 30.0) -> None:
        url = broker_url or os.environ.get("GPU_LEASE_URL") or "http://127.0.0.1:8470"
        self._http = Http(url, token if token is not None else os.environ.get("GPU_LEASE_TOKEN"), timeout_s)
        self._open: List[Lease] = []
        self._lock = threading.Lock()

    @property
    def broker_url(self) -> str:
        return self._http.base

    def acquire(self, owner: str, ttl_s: float = 60, wait_s: float = 0, gpu: Optional[int] = None,
                vram_mb: Optional[int] = None, priority: Optional[str] = None, yield_: bool = False,
                preempt: bool = False, purpose: Optional[str] = None,
                on_lost: Optional[Callable[[Loss], None]] = None,
                on_yield_requested: Optional[Callable[[str], None]] = None) -> Lease:
        """Blocks until granted or ``wait_s`` ran out (:class:`IqaError` ``gpu_busy``, 409); status 0
        when the broker is unreachable. A grant that came back after its own deadline is released
        at once and raised as :class:`LeaseLost`: nothing may use it."""
        body: Dict[str, Any] = {"owner": owner, "ttl_s": ttl_s, "wait_s": wait_s, "pid": os.getpid(),
                                "host": socket.gethostname()}
        for k, v in (("gpu", gpu), ("vram_mb", vram_mb), ("priority", priority), ("purpose", purpose)):
            if v is not None:
                body[k] = v
        if yield_:
            body["yield"] = True
        if preempt:
            body["preempt"] = True
        sent = time.monotonic_ns()
        granted = self._http.json("POST", "/v1/gpu/lease", body, 200, f"lease for {owner!r}", wait_s + 30)
        lease = Lease(self._http, granted, sent, self._forget)
        if on_lost:
            lease.on_lost(on_lost)
        if on_yield_requested:
            lease.on_yield_requested(on_yield_requested)
        late = not lease._rules.valid(time.monotonic_ns())
        with self._lock:
            self._open.append(lease)
        lease._start()
        if late:
            # Its answer came back after its own deadline (a slow answer, a paused process): back at once.
            lease.close()
            raise LeaseLost(f"lease {lease.lease_id} for {owner!r} was granted after its own deadline; released",
                            "deadline", False)
        return lease

    def _forget(self, lease: Lease) -> None:
        with self._lock:
            if lease in self._open:
                self._open.remove(lease)

    def status(self) -> Dict[str, Any]:
        """The broker's ``/v1/gpu/status``."""
        return self._http.json("GET", "/v1/gpu/status", what="status")

    def events(self, since: int = 0) -> List[Dict[str, Any]]:
        return self._http.json("GET", f"/v1/gpu/events?since={since}", what="events").get("events", [])

    def force_release(self, lease_id: Optional[int] = None, owner: Optional[str] = None,
                      older_than_s: Optional[float] = None, reason: Optional[str] = None,
                      immediate: bool = False) -> Dict[str, Any]:
        body: Dict[str, Any] = {}
        for k, v in (("lease_id", lease_id), ("owner", owner), ("older_than_s", older_than_s), ("reason", reason)):
            if v is not None:
                body[k] = v
        if immediate:
            body["immediate"] = True
        return self._http.json("POST", "/v1/gpu/force_release", body, what="force_release")

    def close(self) -> None:
        """Releases every lease still open."""
        with self._lock:
            open_ = list(self._open)
        for lease in open_:
            lease.close()

    def __enter__(self) -> "LeaseClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _parse(raw: bytes) -> Dict[str, Any]:
    try:
        v = json.loads(raw) if raw else {}
        return v if isinstance(v, dict) else {}
    except ValueError:
        return {}


def _call(cb: Callable[[Any], None], arg: Any) -> None:
    try:
        cb(arg)
    except Exception:  # a holder's callback must not stop its lease's thread
        import logging
        logging.getLogger("iqa_client").exception("lease callback failed")
