"""Scoring through a real sidecar process, the shared cache, and the container fallback (a stand-in
``docker``: the project's ``scripts/stand-in-docker`` running the sidecar jar's one-shot ``score``)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SIDECAR_JAR, _need
from iqa_client import Fallback, IqaClient, IqaError, LocalFileError

SAMPLES = sorted((ROOT / "samples").glob("*.jpg"))


def stand_in_docker(tmp_path: Path) -> Path:
    """A folder with a ``docker`` whose container runs what the sidecar image runs."""
    _need(SIDECAR_JAR)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    container = bin_dir / "container"
    container.write_text(f"""#!/bin/bash
visible=""
if [ "$1" = "--gpus" ]; then visible="${{2#device=}}"; shift 2; fi
if [ "$1" = "-e" ]; then export "$2"; shift 2; fi
[ "$1" = "-v" ] || {{ echo "stand-in container: expected -v DIR:/in:ro, not: $*" >&2; exit 64; }}
dir="${{2%%:/in:ro}}"; image="$3"; shift 3
[ "$1" = "score" ] || {{ echo "expected score, not: $*" >&2; exit 64; }}
shift
files=(); for f in "$@"; do files+=("$dir/${{f#/in/}}"); done
CUDA_VISIBLE_DEVICES="$visible" exec java -jar "{SIDECAR_JAR}" score "${{files[@]}}"
""")
    docker = bin_dir / "docker"
    docker.write_text(f"""#!/bin/bash
STAND_IN_DOCKER_CONTAINER="$(dirname "$0")/container" exec "{ROOT / 'scripts' / 'stand-in-docker'}" "$@"
""")
    for f in (container, docker):
        f.chmod(f.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


def test_the_readme_script_scores_through_the_sidecar_the_cache_and_the_fallback(tmp_path, broker, sidecar):
    bin_dir = stand_in_docker(tmp_path)
    cache = tmp_path / "cache"
    # The README's five lines, with this test's URLs and stand-in docker.
    client = IqaClient(sidecar_url=sidecar.url, broker_url=broker.url, cache_dir=cache,
                       fallback=Fallback(search_path=f"{bin_dir}:{os.environ['PATH']}", lease_wait_s=2))
    first = client.score_all(SAMPLES)
    assert all(not isinstance(r, IqaError) for r in first.values()), first
    assert {r.served_by for r in first.values()} == {"sidecar"}
    assert set(first[SAMPLES[0]].scores) >= {"tech_sharpness", "brisque"}

    again = client.score_all(SAMPLES)
    assert {r.served_by for r in again.values()} == {"cache"}
    assert again[SAMPLES[0]].scores == first[SAMPLES[0]].scores

    # The same cache folder is the Java client's format: one JSON line per image.
    lines = [json.loads(l) for l in (cache / "iqa-scores.jsonl").read_text().splitlines()]
    assert {l["sha256"] for l in lines} == {r.sha256 for r in first.values()}
    assert all(set(l) == {"sha256", "models", "device", "scores"} for l in lines)

    sidecar.stop()
    copies = tmp_path / "copies"
    copies.mkdir()
    fresh = []
    for p in SAMPLES[:2]:
        q = copies / p.name
        data = bytearray(p.read_bytes())
        data += b"\0"  # a new file: a cache miss (JPEG decoders ignore trailing bytes)
        q.write_bytes(bytes(data))
        fresh.append(q)
    fallback = client.score_all(fresh)
    assert {r.served_by for r in fallback.values() if not isinstance(r, IqaError)} == {"container"}, fallback
    assert abs(fallback[fresh[0]].scores["tech_sharpness"] - first[SAMPLES[0]].scores["tech_sharpness"]) < 1e-3
    # It took a lease for the container, and gave it back.
    assert any(e["type"] == "granted" and e["owner"] == "iqa-client" for e in client._leases.events())
    assert client._leases.status()["gpus"][0]["leases"] == []
    client.close()


def test_a_bad_image_is_its_own_error_and_a_missing_file_never_falls_back(tmp_path, broker, sidecar):
    client = IqaClient(sidecar_url=sidecar.url, broker_url=broker.url)
    with pytest.raises(IqaError) as bad:
        client.score(b"not an image")
    assert bad.value.status == 400 and bad.value.code == "bad_image"
    with pytest.raises(LocalFileError) as missing:
        client.score(tmp_path / "nope.jpg")
    assert missing.value.kind == "not_found"
    models = {m["name"]: m for m in client.models()}
    assert models["brisque"]["higher_is_better"] is False and models["tech_sharpness"]["range"] == [0.0, 100.0]


def test_the_sidecars_gpu_is_freed_between_stages(broker, sidecar):
    client = IqaClient(sidecar_url=sidecar.url, broker_url=broker.url)
    client.score(SAMPLES[0])
    client.release_sidecar_gpu()
    assert client.health()["state"] == "idle"
    assert client._leases.status()["gpus"][0]["leases"] == []
    with client._leases.acquire("my-stage", ttl_s=30, gpu=0) as lease:
        assert lease.valid()
