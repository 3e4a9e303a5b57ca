"""The README's examples run as written, on the default model."""

from __future__ import annotations

import re
from pathlib import Path

import dyntemp
from dyntemp.eval import load_sweep

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_two_commands_come_first():
    first = blocks("bash")[0].splitlines()
    assert first[0].startswith("bash scripts/setup.sh && .venv/bin/dyntemp generate")
    assert first[1].startswith("bash scripts/setup.sh && .venv/bin/python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh && .venv/bin/python -m pytest" in ci


def test_python_examples_run(tmp_path, monkeypatch):
    rules = next(b for b in blocks("toml") if "[[rule]]" in b)
    (tmp_path / "rules.toml").write_text(rules)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    try:
        for code in blocks("python"):
            exec(compile(code, str(README), "exec"), namespace)
        # The examples produce what their comments say.
        result, story = namespace["result"], namespace["story"]
        assert result.text.count(".") >= 3 and result.finish_reason in ("eos", "stop", "length")
        assert story.text.strip() and story.finish_reason in ("eos", "stop", "length")
        assert namespace["data"]["strategy"] == {"name": "edt", "theta": 0.6}
        assert namespace["answer"] in ("yes", "no")
        assert namespace["sampler"].strategy.name == "calm-code"
        assert (tmp_path / "trace.jsonl").stat().st_size > 0
        assert "top_a" in dyntemp.Sampler(1.0, top_a=0.3).settings.stages()  # the stage example
    finally:
        if "calm-code" in dyntemp.list_strategies():
            dyntemp.unregister_strategy("calm-code")
        if "top_a" in dyntemp.list_stages():
            dyntemp.unregister_stage("top_a")


def test_the_sweep_file_example_loads(tmp_path):
    (tmp_path / "sweep.toml").write_text(next(b for b in blocks("toml") if "[[strategy]]" in b))
    sweep = load_sweep(tmp_path / "sweep.toml")
    assert sweep.strategy_counts() == {"constant": 4, "edt": 4} and sweep.limit_for("creative") == 8


def test_serving_examples_run(server):
    """The Serving section's client code, curl commands and keys file, against a real server."""
    import json
    import subprocess

    from dyntemp.serve import Keyring

    local = f"127.0.0.1:{server.port}"
    namespace: dict = {}
    for code in blocks("py"):
        exec(compile(code.replace("127.0.0.1:8000", local), str(README), "exec"), namespace)
    assert namespace["reply"].choices[0].message.content.strip()
    assert namespace["trace"] and {"temperature", "sentence_index"} <= set(namespace["trace"][0])
    commands = blocks("sh")
    assert len(commands) == 2
    for command in commands:
        result = subprocess.run(command.replace("127.0.0.1:8000", local), shell=True, capture_output=True,
                                text=True, timeout=120, check=True)
        assert json.loads(result.stdout)["choices"][0]["finish_reason"] in ("stop", "length")
    keys = next(b for b in blocks("toml") if "[keys." in b)
    ring = Keyring.from_toml(keys, "README", ["SmolLM2-135M-Instruct.Q4_1"])
    assert [k.name for k in ring.keys] == ["alice", "ci"] and ring.keys[0].max_concurrent == 2
