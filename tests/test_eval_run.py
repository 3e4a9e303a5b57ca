"""Sweeps on the default model: records, resume after a crash, workers, the summary, the CLI and plots."""

from __future__ import annotations

import io
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import dyntemp
from dyntemp.cli import main
from dyntemp.eval.report import plot_run
from dyntemp.eval.runner import GENERATIONS, RunError, read_generations, run_sweep, trace_of
from dyntemp.eval.spec import Sweep, parse_strategy
from dyntemp.eval.summary import read_csv, summarize
from dyntemp.llama.model import default_model_path

pytestmark = pytest.mark.filterwarnings("error")

SETTINGS = parse_strategy("constant:temperature=0.0,1.0") + parse_strategy("edt:theta=0.6")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """qa and creative, 3 prompts each, 3 settings, 2 seeds: 36 generations of at most 24 tokens."""
    out = tmp_path_factory.mktemp("run")
    sweep = Sweep(["qa", "creative"], SETTINGS, seeds=2, limit=3, max_tokens=24)
    return run_sweep(sweep, out, progress=False)


def keys(records):
    return [(r.suite, r.item, r.setting, r.seed) for r in records]


def test_a_run_holds_every_generation_once_with_its_trace(small_run):
    records = read_generations(small_run)
    assert len(records) == 36 and len(set(keys(records))) == 36
    record = next(r for r in records if r.setting == "constant:temperature=0.0" and r.suite == "qa")
    trace = trace_of(record)
    assert all(t == 0.0 for t in trace.columns()["temperature"])
    assert trace.text.startswith(record.text)
    assert record.kind == "qa" and set(record.scores) == {"correct"}
    assert record.metrics["length"] == record.completion_tokens == len(trace) <= 24
    assert record.metrics["nll"] == pytest.approx(-sum(trace.columns()["logprob"]) / len(trace))
    assert record.settings == dyntemp.SamplerSettings(0.0, seed=record.seed)
    edt = [r for r in records if r.strategy.name == "edt"]
    assert all(r.metrics["temperature_mean"] > 0 for r in edt)


def test_seeds_repeat_exactly(small_run, tmp_path):
    again = run_sweep(Sweep(["qa"], SETTINGS[1:2], seeds=2, limit=3, max_tokens=24), tmp_path, progress=False)
    before = {k: r.text for k, r in zip(keys(read_generations(small_run)), read_generations(small_run))}
    for key, record in zip(keys(read_generations(again)), read_generations(again)):
        assert record.text == before[key]


def test_the_summary_has_one_row_per_setting_with_intervals(small_run):
    rows = read_csv(small_run / "summary.csv")
    assert [(r["suite"], r["setting"]) for r in rows] == [
        (suite, setting) for suite in ("creative", "qa")
        for setting in ("constant:temperature=0.0", "constant:temperature=1.0", "edt:theta=0.6")]
    for row in rows:
        assert row["n"] == 6 and row["prompts"] == 3 and row["k"] == 2
        # 6 generations are too few to resample: a mean, no interval.
        assert math.isnan(row["distinct_2_low"]) and math.isnan(row["distinct_2_high"])
        assert math.isnan(row["accuracy"]) == (row["suite"] == "creative")
    greedy = next(r for r in rows if r["suite"] == "qa" and r["setting"] == "constant:temperature=0.0")
    # Greedy generations of one prompt are the same for every seed.
    assert greedy["self_bleu"] == pytest.approx(1.0) and greedy["temperature_mean"] == 0.0
    computed = summarize(read_generations(small_run))
    assert [(r["setting"], r["n"], r["distinct_2"], r["nll_high"]) for r in computed] == [
        (r["setting"], r["n"], pytest.approx(r["distinct_2"], rel=1e-12),
         pytest.approx(r["nll_high"], rel=1e-12, nan_ok=True))
        for r in rows]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_finished_run_does_nothing_when_rerun(small_run, workers, monkeypatch):
    from dyntemp.llama import model

    def no_model(*args, **kwargs):
        raise AssertionError("a finished run loaded a model")

    monkeypatch.setattr(model, "load_model", no_model)
    before = (small_run / GENERATIONS).read_bytes()
    run_sweep(Sweep(["qa", "creative"], SETTINGS, seeds=2, limit=3, max_tokens=24, workers=workers), small_run,
              progress=False)
    assert (small_run / GENERATIONS).read_bytes() == before


def test_a_torn_last_line_is_dropped_and_redone(tmp_path, capsys):
    sweep = Sweep(["qa"], SETTINGS[:1], seeds=1, limit=3)
    run_sweep(sweep, tmp_path, progress=False)
    path = tmp_path / GENERATIONS
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2])
    capsys.readouterr()
    run_sweep(sweep, tmp_path, progress=True)
    assert sorted(path.read_text().splitlines()) == sorted(line.rstrip("\n") for line in lines)
    # The progress bar counts what was already done and ends at the total.
    err = capsys.readouterr().err
    assert "2/3" in err and "3/3" in err


def test_code_replies_are_run_against_their_tests(tmp_path):
    run = run_sweep(Sweep(["code"], SETTINGS[:1], seeds=2, limit=2), tmp_path, progress=False)
    records = read_generations(run)
    assert all(set(r.scores) == {"passed", "error", "parses"} for r in records)
    row = summarize(records)[0]
    # Greedy: both seeds give the same reply, so pass@k (k = 2 seeds) equals pass@1.
    assert row["k"] == 2 and row["pass@k"] == row["pass@1"] == sum(r.scores["passed"] for r in records) / 4


def test_a_run_folder_refuses_other_sampler_settings(tmp_path):
    run_sweep(Sweep(["qa"], SETTINGS[:1], seeds=1, limit=1), tmp_path, progress=False)
    with pytest.raises(RunError, match="holds a run with sampler=.*choose another out folder"):
        run_sweep(Sweep(["qa"], SETTINGS[:1], seeds=1, limit=1, sampler={"top_k": 5}), tmp_path, progress=False)


def test_a_chat_template_and_stop_strings_shape_every_prompt_and_reply(tmp_path, llm):
    from dyntemp import Sampler
    from dyntemp.eval.suites import load_suite
    from dyntemp.llama import chat_tokens

    template = "{% for m in messages if m['role'] == 'user' %}Question: {{ m['content'] }}\nAnswer:{% endfor %}"
    greedy = parse_strategy("constant:temperature=0.0")
    sweep = Sweep(["qa"], greedy, seeds=1, limit=3, max_tokens=16, chat_template=template, stop=[":", ","])
    records = sorted(read_generations(run_sweep(sweep, tmp_path / "one", progress=False)), key=lambda r: r.item)
    batched = sorted(read_generations(run_sweep(Sweep(**{**sweep.__dict__, "batch_size": 3}), tmp_path / "batched",
                                                progress=False)), key=lambda r: r.item)
    items = {item.id: item for item in load_suite("qa")}
    for record, together in zip(records, batched, strict=True):
        prompt = chat_tokens(llm, items[record.item].messages(), template)
        alone = Sampler(0.0).generate(llm, prompt, max_tokens=16, stop=[":", ","])
        assert record.text == together.text == alone.text and not {":", ","} & set(record.text)
    assert "stop" in {r.finish_reason for r in records}
    with pytest.raises(RunError, match="holds a run with chat_template="):
        run_sweep(Sweep(["qa"], greedy, seeds=1, limit=3, max_tokens=16, stop=[":", ","]), tmp_path / "one",
                  progress=False)


def _workers_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"multiprocessing" in Path(f"/proc/{c}/cmdline").read_bytes()
            and b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_killing_a_worker_mid_sweep_loses_nothing_on_rerun(tmp_path):
    out = tmp_path / "run"
    argv = ["eval", "--suite", "qa", "--strategy", "constant:temperature=0.5,1.0", "--seeds", "2", "--limit", "6",
            "--max-tokens", "16", "--workers", "2", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "dyntemp.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    path = out / GENERATIONS
    deadline = time.monotonic() + 120
    while not (path.exists() and path.read_text().count("\n") >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    workers = _workers_of(proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "a worker process died" in err and "rerun the same command" in err
    saved = len(read_generations(out))
    assert 3 <= saved < 24

    assert main(argv, out=io.StringIO()) == 0
    records = read_generations(out)
    counts = Counter(keys(records))
    assert len(records) == 24 and max(counts.values()) == 1
    assert set(counts) == {("qa", item, f"constant:temperature={t}", seed)
                           for item in {k[1] for k in counts} for t in ("0.5", "1.0") for seed in (0, 1)}
    assert len({k[1] for k in counts}) == 6


def test_cli_eval_prints_the_summary_and_plot_draws_the_figures(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(f"""
suites = ["qa"]
seeds = 2
limit = 1
max_tokens = 16
out = "{tmp_path / 'run'}"

[[strategy]]
name = "constant"
grid = {{ temperature = [0.2, 1.0] }}

[[strategy]]
name = "dynatemp"
grid = {{ temperature = [0.6, 1.0] }}
""")
    out = io.StringIO()
    assert main(["eval", "--config", str(config), "--no-progress"], out=out) == 0
    table = out.getvalue()
    assert "suite qa" in table and "accuracy" in table and "dynatemp:temperature=0.6" in table
    assert len(read_generations(tmp_path / "run")) == 8  # 4 settings × 1 prompt × 2 seeds
    out = io.StringIO()
    assert main(["plot", str(tmp_path / "run"), "--out", str(tmp_path / "figs")], out=out) == 0
    written = out.getvalue().split()
    assert sorted(Path(p).name for p in written) == sorted(
        f"qa_{n}" for n in ("quality_vs_temperature.png", "quality_vs_diversity.png", "generation.png",
                            "tokens.png", "tokens.html"))
    for p in written:
        data = Path(p).read_bytes()
        assert data.startswith(b"\x89PNG") if p.endswith(".png") else b"<html" in data.lower()


def test_plot_run_on_the_small_run(small_run, tmp_path):
    written = plot_run(small_run, tmp_path, example="edt:theta=0.6")
    assert len(written) == 10 and all(p.stat().st_size > 1000 for p in written)
    with pytest.raises(ValueError, match="example setting 'edt' is not in the run; its settings: "):
        plot_run(small_run, tmp_path, example="edt")
    with pytest.raises(ValueError, match="suite 'code' is not in the run; its suites: qa, creative|creative, qa"):
        plot_run(small_run, tmp_path, suites=["code"])


@pytest.mark.parametrize("argv, message", [
    (["eval", "--out", "x"], "give at least one --strategy"),
    (["eval", "--strategy", "edt"], "give --out FOLDER"),
    (["eval", "--strategy", "edtt", "--out", "x"], "unknown strategy 'edtt'. Did you mean 'edt'?"),
    (["eval", "--strategy", "edt", "--suite", "nosuch", "--out", "x"], "nosuch"),
    (["eval", "--strategy", "edt", "--seeds", "0", "--out", "x"], "seeds must be >= 1, got 0"),
    (["eval", "--strategy", "edt", "--top-p", "3", "--out", "x"], "top_p must be <= 1.0, got 3.0"),
    (["eval", "--config", "missing.toml"], "sweep file not found: missing.toml"),
    (["eval", "--strategy", "edt", "--stop", "", "--out", "x"], "stop must be a string or a list of non-empty"),
    (["eval", "--strategy", "edt", "--chat-template", "none.jinja", "--out", "x"], "--chat-template none.jinja: no such file"),
    (["plot", "nowhere"], "no generations.jsonl in nowhere"),
])
def test_cli_eval_errors_exit_2_before_any_work(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_scorer_matches_the_generating_model_on_its_own_text(llm):
    import dyntemp
    from dyntemp.eval.scorer import Scorer

    result = dyntemp.Sampler(1.0, top_k=0, top_p=1.0, min_p=0.0, seed=3).generate(
        llm, "Name a colour.\n\n", max_tokens=20)
    own = -sum(r.logprob for r in result.trace[:len(result.tokens)]) / len(result.tokens)
    scorer = Scorer(default_model_path(), n_ctx=128)
    # Batched evaluation rounds differently from token-by-token decoding: close, not equal.
    assert scorer.nll("Name a colour.", result.text) == pytest.approx(own, abs=0.05)
    assert math.isnan(scorer.nll("Name a colour.", ""))
    with pytest.raises(ValueError, match="more than the scorer's n_ctx=128"):
        scorer.nll("word " * 200, "x")


def test_a_run_with_a_scorer_records_its_nll(tmp_path):
    sweep = Sweep(["creative"], SETTINGS[1:2], seeds=1, limit=1, max_tokens=32, scorer=default_model_path())
    record = read_generations(run_sweep(sweep, tmp_path, progress=False))[0]
    assert 0 < record.metrics["scorer_nll"] < 20
    assert json.loads((tmp_path / "sweep.json").read_text())["scorer"] == default_model_path()


def test_without_isolation_a_code_suite_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys):
    from dyntemp.cli import main
    from dyntemp.eval import isolation
    from dyntemp.llama import model

    monkeypatch.setenv(isolation.ENV_BWRAP, "")
    monkeypatch.setattr(model, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(isolation.IsolationUnavailable, match="bubblewrap"):
        run_sweep(Sweep(["code"], SETTINGS[:1], seeds=1, limit=1), tmp_path / "lib", progress=False)
    assert not (tmp_path / "lib").exists() or not any((tmp_path / "lib").iterdir())
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--suite", "code", "--strategy", "constant", "--out", str(tmp_path / "cli")])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "--unisolated-code" in err, err
    assert not any((tmp_path / "cli").iterdir())
    # qa alone runs no code: no isolation needed, and none asked for.
    assert Sweep(["qa"], SETTINGS[:1]).unisolated_code is False


def test_unisolated_code_is_run_when_the_user_says_so(tmp_path, monkeypatch):
    from dyntemp.eval import isolation

    monkeypatch.setenv(isolation.ENV_BWRAP, "")
    run = run_sweep(Sweep(["code"], SETTINGS[:1], seeds=1, limit=1, unisolated_code=True), tmp_path, progress=False)
    [record] = read_generations(run)
    assert set(record.scores) == {"passed", "error", "parses"}


def _descendants(pid: int) -> set[int]:
    children = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, set()).add(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return found


def _eval_command(out, *extra):
    return [sys.executable, "-m", "dyntemp", "eval", "--suite", "qa", "--strategy", "constant:temperature=1.0",
            "--seeds", "4", "--limit", "4", "--max-tokens", "24", "--out", str(out), "--no-progress", "-t", "1",
            *extra]


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    first = subprocess.Popen(_eval_command(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run.lock").exists() or not (tmp_path / "run.lock").read_text():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        second = subprocess.run(_eval_command(tmp_path), capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        assert f"is being written by another run (pid {first.pid})" in second.stderr, second.stderr
        _, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    records = read_generations(tmp_path)
    assert len(records) == 16 and len({(r.item, r.seed) for r in records}) == 16


def test_workers_die_with_the_eval_killed(tmp_path):
    parent = subprocess.Popen(_eval_command(tmp_path, "--workers", "2"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(_descendants(parent.pid)) < 3:  # two workers and the resource tracker
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        workers = _descendants(parent.pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [pid for pid in workers if os.path.exists(f"/proc/{pid}")]
    assert alive == [], "processes of the killed eval live on"


def test_sweep_json_waits_for_a_run_that_can_start(tmp_path):
    bad_model = tmp_path / "not-a-model.gguf"
    bad_model.write_bytes(b"GGUF but not really")
    out = tmp_path / "run"
    with pytest.raises(Exception):
        run_sweep(Sweep(["qa"], SETTINGS[:1], seeds=1, limit=1, model=str(bad_model)), out, progress=False)
    assert not (out / "sweep.json").exists()
    run = run_sweep(Sweep(["qa"], SETTINGS[:1], seeds=1, limit=1), out, progress=False)  # the corrected command
    assert len(read_generations(run)) == 1 and (out / "sweep.json").is_file()


@pytest.mark.parametrize("bad", ["{\"not\": \"a record\"}\n", "\n", "\x00\x00\x00\n", "[1, 2\n"])
def test_a_bad_line_is_named_with_its_file_and_number(small_run, tmp_path, bad):
    lines = (small_run / GENERATIONS).read_text().splitlines(keepends=True)
    (tmp_path / GENERATIONS).write_text("".join(lines[:2]) + bad + "".join(lines[2:4]))
    with pytest.raises(RunError, match=rf"{GENERATIONS}:3: not a generation record .*remove or repair that line"):
        read_generations(tmp_path)


def test_a_finished_run_reruns_with_workers_and_writes_its_summary(tmp_path):
    sweep = Sweep(["qa"], SETTINGS[:1], seeds=1, limit=2)
    run_sweep(sweep, tmp_path, progress=False)
    (tmp_path / "summary.csv").unlink()
    sweep.workers = 2
    run_sweep(sweep, tmp_path, progress=False)
    assert read_csv(tmp_path / "summary.csv")[0]["n"] == 2


def test_progress_is_printed_as_lines_when_standard_error_is_not_a_terminal(tmp_path):
    done = subprocess.run([a for a in _eval_command(tmp_path) if a != "--no-progress"], capture_output=True,
                          text=True, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.startswith("eval: ")]
    assert done.returncode == 0 and lines[0] == "eval: 0/16 generations done, 16 to make", done.stderr
    assert lines[-1] == "eval: 16/16 generations" and "\r" not in done.stderr


def test_the_summary_shows_this_commands_settings_then_the_folders_others(tmp_path):
    common = ["eval", "--suite", "qa", "--limit", "1", "--seeds", "1", "--max-tokens", "4", "--out", str(tmp_path),
              "--no-progress"]
    main([*common, "--strategy", "constant:temperature=0.5"], out=io.StringIO())
    buffer = io.StringIO()
    main([*common, "--strategy", "edt"], out=buffer)
    mine, _, others = buffer.getvalue().partition(f"also in {tmp_path}, from earlier commands:")
    assert "edt " in mine and "constant:temperature=0.5" not in mine
    assert "constant:temperature=0.5" in others and "edt " not in others


def test_a_full_disk_ends_the_run_with_one_line_and_loses_nothing(tmp_path):
    """The run folder on a 48 KiB tmpfs, mounted in a mount namespace of the eval's own (unshare):
    the disk fills mid-run."""
    small = tmp_path / "small"
    small.mkdir()
    command = " ".join(map(shlex.quote, _eval_command(small / "run")))
    done = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c",
                           f"mount -t tmpfs -o size=48k tmpfs {shlex.quote(str(small))} && {command}; "
                           f"status=$?; cp -a {shlex.quote(str(small / 'run'))} {shlex.quote(str(tmp_path / 'kept'))}; "
                           f"exit $status"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("dyntemp: error: ") and "Traceback" not in done.stderr
    assert "No space left on device" in done.stderr or "no space left" in done.stderr.lower(), done.stderr
    kept = tmp_path / "kept"
    saved = read_generations(kept)  # every whole line is a record; a torn last one is left out
    assert 0 < len(saved) < 16
    before = (kept / GENERATIONS).read_bytes()
    resumed = subprocess.run(_eval_command(kept), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    after = (kept / GENERATIONS).read_bytes()
    whole = before[:before.rfind(b"\n") + 1]
    assert after.startswith(whole) and len(read_generations(kept)) == 16


def test_a_resumed_run_files_replies_under_the_items_they_answer(tmp_path):
    suite = tmp_path / "mine.jsonl"
    france = json.dumps({"prompt": "What is the capital of France?", "answers": ["Paris"]})
    peru = json.dumps({"prompt": "What is the capital of Peru?", "answers": ["Lima"]})
    sweep = Sweep([str(suite)], SETTINGS[:1], seeds=1, max_tokens=8)
    suite.write_text(france + "\n")
    first = {r.item: r.text for r in read_generations(run_sweep(sweep, tmp_path / "run", progress=False))}
    suite.write_text(peru + "\n" + france + "\n")  # a question inserted above
    records = read_generations(run_sweep(sweep, tmp_path / "run", progress=False))
    assert len(records) == 2  # only Peru was new
    assert {r.item: r.text for r in records if r.item in first} == first
    # An item with an id, edited: the folder's reply answers the old item, and the run says so.
    suite.write_text(json.dumps({"id": "fr", "prompt": "What is the capital of France?", "answers": ["Paris"]}) + "\n")
    run_sweep(sweep, tmp_path / "ids", progress=False)
    suite.write_text(json.dumps({"id": "fr", "prompt": "What is the capital of Spain?", "answers": ["Madrid"]}) + "\n")
    with pytest.raises(RunError, match="item 'fr' has changed since .*give it a new id"):
        run_sweep(sweep, tmp_path / "ids", progress=False)


def test_an_eval_leaves_no_resource_warning_at_exit(tmp_path):
    # Where ResourceWarnings show (python -X dev), an eval's process and its workers end without one.
    result = subprocess.run([sys.executable, "-X", "dev", "-W", "always::ResourceWarning", "-m", "dyntemp", "eval",
                             "--suite", "code", "--limit", "1", "--seeds", "1", "--strategy", "constant:temperature=0.5",
                             "--max-tokens", "8", "--no-progress", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "ResourceWarning" not in result.stderr, result.stderr
