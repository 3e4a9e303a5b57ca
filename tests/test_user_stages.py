"""A stage written in a user's own module — top-a, keep tokens with ``p >= top_a * p_max^2`` — works
everywhere a built-in stage does, with no edit to dyntemp: ``Sampler``, ``order``, settings as data,
a sweep file, the command line (``--import``), a server request, and both listings. And every
setting, built in or not, reaches the request schema, the command line and the docs from its one
declaration."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pytest

import dyntemp
from conftest import Server

TOP_A = '''
"""A user's stage: top-a."""
import numpy as np

import dyntemp
from dyntemp.core.stages import number


@dyntemp.register_stage("top_a", after="min_p")
class TopA(dyntemp.Stage):
    """Top-a: keep the tokens at least top_a times the square of the top probability likely."""

    truncates = True
    settings = (dyntemp.Setting("top_a", 0.0, "top-a: keep tokens with p >= top_a * p_max^2",
                                number(low=0.0, high=1.0), off=0.0, flag="--top-a", metavar="A"),)

    def apply(self, cand, ctx):
        x = cand.logits.astype(np.float64)
        p = np.exp(x - x.max())
        p /= p.sum()
        keep = np.flatnonzero(p >= self.config.top_a * p.max() ** 2)
        cand.keep(keep if keep.size < x.size else None, cand.sorted)
'''
OFF = {"top_k": 0, "top_p": 1.0, "min_p": 0.0}
FRANCE = "The capital of France is"


@pytest.fixture(scope="module")
def stage_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("user_stage")
    (folder / "my_stages.py").write_text(textwrap.dedent(TOP_A))
    return folder


@pytest.fixture
def top_a(stage_folder):
    """The module imported here, and gone again after the test (other tests see the built-ins alone)."""
    sys.path.insert(0, str(stage_folder))
    try:
        yield importlib.import_module("my_stages")
    finally:
        dyntemp.unregister_stage("top_a")
        sys.modules.pop("my_stages", None)
        sys.path.remove(str(stage_folder))


def env(folder: Path) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}


def dyntemp_cli(*args: str, folder: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dyntemp", *args], capture_output=True, text=True,
                          env=env(folder), timeout=timeout)


def test_a_users_stage_works_in_the_sampler(top_a):
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    sampler = dyntemp.Sampler(1.0, top_a=0.8, **OFF)
    # p_max^2 * 0.8 = 0.2: 0.5 and 0.3 stay.
    assert sampler.distribution(logits).round(3).tolist() == [0.625, 0.375, 0.0, 0.0]
    assert sampler.settings.stages() == ("top_a", "temperature")
    assert dyntemp.list_stages().index("top_a") == dyntemp.list_stages().index("min_p") + 1
    # Off at its off value, and in any order a user gives.
    assert dyntemp.Sampler(1.0, **OFF).distribution(logits).round(2).tolist() == [0.5, 0.3, 0.15, 0.05]
    ordered = dyntemp.Sampler(1.0, top_a=0.8, order="top_a;temperature", **OFF)
    assert ordered.distribution(logits).round(3).tolist() == [0.625, 0.375, 0.0, 0.0]
    with pytest.raises(dyntemp.SettingError, match="top_a must be <= 1.0, got 2") as caught:
        dyntemp.Sampler(1.0, top_a=2)
    assert caught.value.setting == "top_a" and caught.value.value == 2
    with pytest.raises(ValueError, match="top_a=0.5 is set but 'top_a' is not in order"):
        dyntemp.Sampler(1.0, top_a=0.5, order="top_k;temperature", top_p=1.0, min_p=0.0)


def test_a_users_stage_travels_as_data(top_a):
    settings = dyntemp.SamplerSettings("edt", top_a=0.3, seed=2)
    data = json.loads(json.dumps(settings.to_dict()))
    assert data["top_a"] == 0.3 and "top_a" in data["order"]
    assert dyntemp.SamplerSettings.from_dict(data) == settings
    assert pickle.loads(pickle.dumps(settings)) == settings
    sampler = dyntemp.Sampler.from_settings(settings)
    assert [s.name for s in sampler._pipeline.stages] == ["top_k", "top_p", "min_p", "top_a", "temperature"]
    assert "top_a" in repr(dyntemp.Sampler(1.0, top_a=0.3))


def test_a_users_stage_is_listed_with_its_settings(top_a):
    from dyntemp.cli.strategies import stages
    from dyntemp.serve.catalog import catalog

    row = next(line for line in stages().splitlines() if "--top-a" in line)
    assert row.split()[:4] == ["top_a", "--top-a", "A", "top_a"] and "default 0.0: off" in row
    listed = {stage["stage"]: stage for stage in catalog()["stages"]}
    assert listed["top_a"]["settings"][0]["help"].startswith("top-a: keep tokens")
    assert listed["top_a"]["summary"].startswith("Top-a: keep the tokens")


def test_a_users_stage_on_the_command_line(stage_folder, model2048):
    greedy = dyntemp_cli("generate", FRANCE, "-n", "3", "--temp", "1.5", "--seed", "3", "--import", "my_stages",
                         "--top-a", "0.99", "--top-k", "0", "--top-p", "1", "--min-p", "0", folder=stage_folder)
    assert greedy.returncode == 0 and greedy.stdout.startswith(" Paris"), greedy.stderr
    bad = dyntemp_cli("generate", FRANCE, "--import", "my_stages", "--top-a", "2", folder=stage_folder)
    assert bad.returncode == 2 and "--top-a: top_a must be <= 1.0, got 2.0" in bad.stderr, bad.stderr
    listing = dyntemp_cli("strategies", "--import", "my_stages", folder=stage_folder)
    assert "--top-a A" in listing.stdout
    helped = dyntemp_cli("serve", "--import", "my_stages", "--help", folder=stage_folder)
    assert "--top-a A" in helped.stdout and "top-a: keep tokens" in helped.stdout
    without = dyntemp_cli("generate", FRANCE, "--top-a", "0.5", folder=stage_folder)
    assert without.returncode == 2 and "unrecognized arguments: --top-a" in without.stderr


def test_a_users_stage_in_a_sweep_file(stage_folder, tmp_path):
    (tmp_path / "sweep.toml").write_text(textwrap.dedent("""
        suites = ["qa"]
        imports = ["my_stages"]
        seeds = 1
        limit = 1
        max_tokens = 4
        [sampler]
        top_a = 0.5
        [[strategy]]
        name = "constant"
        temperature = 1.0
    """))
    run = dyntemp_cli("eval", "--config", str(tmp_path / "sweep.toml"), "--out", str(tmp_path / "run"), "-t", "1",
                      "--no-progress", folder=stage_folder)
    assert run.returncode == 0, run.stderr
    record = json.loads((tmp_path / "run" / "generations.jsonl").read_text().splitlines()[0])
    assert record["settings"]["top_a"] == 0.5 and "top_a" in record["settings"]["order"]


def test_a_users_stage_in_a_server_request(stage_folder):
    running = Server("--parallel", "1", "--threads", "2", "--import", "my_stages", env={"PYTHONPATH": env(
        stage_folder)["PYTHONPATH"]})
    try:
        body = {"prompt": FRANCE, "max_tokens": 3, "temperature": 1.5, "seed": 3, "top_a": 0.99, "top_k": 0,
                "top_p": 1.0, "min_p": 0.0}
        reply = httpx.post(f"{running.url}/v1/completions", json=body, timeout=60)
        assert reply.status_code == 200 and reply.json()["choices"][0]["text"].startswith(" Paris"), reply.text
        bad = httpx.post(f"{running.url}/v1/completions", json={**body, "top_a": 2}, timeout=60)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "top_a", bad.text
        schema = httpx.get(f"{running.url}/openapi.json", timeout=10).json()["components"]["schemas"]
        field = schema["CompletionRequest"]["properties"]["top_a"]
        assert field["description"].startswith("top-a: keep tokens")
        stages = httpx.get(f"{running.url}/v1/strategies", timeout=10).json()["stages"]
        assert "top_a" in [stage["stage"] for stage in stages]
    finally:
        assert running.stop() == 0, running.logs()


def test_every_setting_reaches_the_schema_the_command_line_and_the_docs():
    from dyntemp.api.schema import CompletionRequest, GenerationFields
    from dyntemp.cli import build_parser
    from dyntemp.cli.common import sampler_flags

    docs = "".join(page.read_text() for page in (Path(__file__).parent.parent / "docs").glob("*.md"))
    options = {option for action in build_parser()._subparsers._group_actions[0].choices["generate"]._actions
               for option in action.option_strings}
    for setting in dyntemp.SamplerSettings.declared():
        for field in setting.fields:
            assert field in GenerationFields.model_fields and field in CompletionRequest.model_fields, field
            assert GenerationFields.model_fields[field].description == setting.help
            assert f"`{field}`" in docs, f"the docs' request fields do not name {field}"
        if setting.flag:
            assert setting.flag in options and sampler_flags()[setting.flag] is setting
            assert setting.flag in docs, f"the docs do not name {setting.flag}"
        assert setting.name in dyntemp.Sampler.__doc__ or setting.name in dyntemp.SamplerSettings.__doc__ or \
            setting.name in docs, setting.name
