"""The package as a user gets it: pip-installed into a fresh virtual environment, then the README's
five-line script run three times (sidecar, cache, fallback with the sidecar stopped)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

from conftest import ROOT
from test_score import stand_in_docker

PACKAGE = ROOT / "clients" / "python"


def readme_script() -> str:
    text = (PACKAGE / "README.md").read_text()
    block = re.search(r"## Score images.*?```python\n(.*?)```", text, re.S)
    assert block, "the README's scoring script"
    lines = [l for l in block.group(1).splitlines() if l.strip()]
    assert len(lines) == 5, lines
    return "\n".join(lines) + "\n"


def test_pip_install_and_the_readme_script(tmp_path, broker, sidecar):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index", str(PACKAGE)],
                   check=True, cwd=tmp_path)
    script = tmp_path / "score.py"
    script.write_text(readme_script())
    bin_dir = stand_in_docker(tmp_path)
    env = dict(os.environ, IQA_CLIENT_SIDECAR_URL=sidecar.url, GPU_LEASE_URL=broker.url,
               IQA_CLIENT_CACHE_DIR=str(tmp_path / "cache"),
               IQA_CLIENT_FALLBACK_SEARCH_PATH=f"{bin_dir}:{os.environ['PATH']}",
               IQA_CLIENT_FALLBACK_LEASE_WAIT_S="2")
    env.pop("PYTHONPATH", None)
    work = tmp_path / "work"
    (work / "samples").mkdir(parents=True)
    for p in (ROOT / "samples").glob("*.jpg"):
        (work / "samples" / p.name).write_bytes(p.read_bytes())

    def run(e):
        out = subprocess.run([str(python), str(script)], cwd=work, env=e, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert "iqa_client" not in out.stderr
        return [l.split()[1] for l in out.stdout.splitlines()]

    assert set(run(env)) == {"sidecar"}
    assert set(run(env)) == {"cache"}
    sidecar.stop()
    no_cache = {k: v for k, v in env.items() if k != "IQA_CLIENT_CACHE_DIR"}
    assert set(run(no_cache)) == {"container"}
    # Installed, not imported from the source tree.
    where = subprocess.run([str(python), "-c", "import iqa_client; print(iqa_client.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert str(env_dir) in where, where
