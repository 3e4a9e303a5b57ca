"""The examples of the README and the docs run as written, on the default model; the docs site builds
with ``mkdocs build --strict`` (no broken link, no missing page, no failed API reference)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dyntemp
from dyntemp.eval import load_sweep

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The pages whose examples run, in the order a reader meets them (later ones use earlier names).
PAGES = [README, *(ROOT / "docs" / name for name in (
    "getting-started.md", "library.md", "strategies.md", "pipeline.md", "cli.md", "serving.md", "batch.md",
    "eval.md"))]


def blocks(language: str, pages=PAGES) -> list[str]:
    return [block for page in pages
            for block in re.findall(rf"```{language}\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)]


def test_the_two_commands_come_first():
    first = blocks("bash", [README])[0].splitlines()
    assert first[0].startswith("bash scripts/setup.sh && .venv/bin/dyntemp generate")
    assert first[1].startswith("bash scripts/setup.sh && .venv/bin/python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh && .venv/bin/python -m pytest" in ci


def test_getting_started_gives_the_readmes_two_commands():
    assert blocks("bash", [ROOT / "docs" / "getting-started.md"])[0] == blocks("bash", [README])[0]


def test_the_readme_is_short_and_its_links_lead_somewhere():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    targets = re.findall(r"\]\(((?:docs|plots)/[^)#]+)", text)
    assert len(targets) >= 12 and all((ROOT / target).is_file() for target in targets), targets


def test_every_page_with_code_examples_has_them_run():
    with_code = {page for page in (ROOT / "docs").glob("*.md")
                 if re.search(r"```(python|py|sh|toml)\n", page.read_text(encoding="utf-8"))}
    assert with_code <= set(PAGES), sorted(p.name for p in with_code - set(PAGES))


def test_the_docs_site_builds_strictly_with_its_api_reference(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("dyntemp.Sampler", "dyntemp.llama.load_model", "dyntemp.eval.compare.compare"):
        assert f'id="{name}"' in api, name
    # Doctest examples are highlighted code, not Markdown's nested quotes.
    assert '<span class="gp">&gt;&gt;&gt; </span>' in api and "<blockquote>" not in api
    for page in ("index.html", "strategies/index.html", "serving/index.html", "plots/index.html",
                 "plots/playground.png", "experiments/min-p/index.html"):
        assert (site / page).is_file(), page


def test_python_examples_run(tmp_path, monkeypatch):
    rules = next(b for b in blocks("toml") if "[[rule]]" in b)
    (tmp_path / "rules.toml").write_text(rules)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    try:
        for code in blocks("python"):
            exec(compile(code, str(README), "exec"), namespace)
        # The examples produce what their comments say.
        assert namespace["reply"].text.strip() and namespace["hooked"]["choices"][0]["text"]
        assert namespace["first"].trace.columns()["temperature"][0] == 0.2
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
