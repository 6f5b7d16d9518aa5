"""The wire examples the Java tests also read (protocol/wire-examples: answers captured from real
servers, checked there against the OpenAPI documents), parsed by this client's own code."""
from __future__ import annotations

import json
import time

from conftest import ROOT
from iqa_client import IqaError
from iqa_client._http import Http, expect_json
from iqa_client.client import score_result
from iqa_client.lease import Lease

EXAMPLES = sorted((ROOT / "protocol" / "wire-examples").glob("*.json"))


def load(name: str):
    return json.loads((ROOT / "protocol" / "wire-examples" / f"{name}.json").read_text())


def test_every_error_example_becomes_an_iqa_error_with_its_code_and_status():
    errors = [json.loads(p.read_text()) for p in EXAMPLES]
    errors = [e for e in errors if "body" in e and "error" in e["body"]]
    assert len(errors) >= 4
    for e in errors:
        try:
            expect_json(e["status"], json.dumps(e["body"]).encode(), {}, 200, e["path"])
        except IqaError as err:
            assert err.status == e["status"] and err.code == e["body"]["error"]
        else:
            raise AssertionError(f"{e} was not an error")


def test_a_grant_is_a_lease_and_each_watch_event_reaches_the_rules():
    granted = load("broker-lease-granted")["body"]
    lease = Lease(Http("http://127.0.0.1:1"), granted, time.monotonic_ns(), lambda l: None)
    assert (lease.lease_id, lease.gpu, lease.owner, lease.ttl_s) == (1, 0, "llm", 30.0)
    assert lease.valid()
    kinds = {}
    for name in ("broker-watch-revoked", "broker-watch-yield-requested", "broker-watch-ended"):
        e = load(name)
        lease._on_frame(e["watch_event"], e["data"])
        ev = lease._events.get_nowait()
        kinds[e["watch_event"]] = ev
    assert kinds["revoked"][0] == "revoked" and kinds["revoked"][1] == "force_released"
    assert "operator needs gpu 0" in kinds["revoked"][2]
    assert kinds["yield_requested"] == ("yield_asked", "gpu 0 is wanted by 'batch' (priority normal)")
    assert kinds["ended"] == ("ended", "revoke_confirmed")


def test_an_infer_answer_is_a_score_result():
    body = load("sidecar-infer-ok")["body"]
    r = score_result(body, "sidecar")
    assert r.sha256 == body["sha256"] and r.served_by == "sidecar"
    assert set(r.scores) == set(body["scores"]) and "brisque" in r.scores
