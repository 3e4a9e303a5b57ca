"""The dyntemp command, run through its entry function on the default model."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from dyntemp.cli import main


def run(*argv, stdin=None, monkeypatch=None):
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_sentence_schedule_with_show(tmp_path):
    trace = tmp_path / "t.jsonl"
    status, out = run("generate", "Write four short sentences about the sea.", "--chat", "--sentence-temps",
                      "0.2,0.9,1.4", "--seed", "8", "--max-tokens", "120", "--show", "--trace", str(trace))
    assert status == 0
    assert "\x1b[38;5;" in out and "sentence tokens temperature" in out
    rows = [line.split() for line in out.splitlines() if line[:8].strip().isdigit()]
    assert [row[2] for row in rows[:3]] == ["0.20", "0.90", "1.40"]
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert all(r["temperature"] == [0.2, 0.9, 1.4][min(r["sentence_index"], 2)] for r in records)


def test_strategy_params_filters_and_stdin(monkeypatch):
    status, out = run("generate", "-", "--strategy", "edt", "--param", "theta=0.5", "--param", "t0=0.0",
                      "--top-k", "5", "--max-tokens", "3", stdin="The capital of France is\n", monkeypatch=monkeypatch)
    assert status == 0 and out.startswith(" Paris")


def test_rules_file_and_stop(tmp_path):
    rules = tmp_path / "r.toml"
    rules.write_text("[[rule]]\ntemperature = 0.0\n")
    status, out = run("generate", "The capital of France is", "--rules", str(rules), "--stop", ".", "-n", "10")
    assert status == 0 and out == " Paris\n"


def test_strategies_lists_parameters_and_docs():
    status, out = run("strategies")
    assert status == 0
    assert "edt(t0=1.0, n=0.8, theta=1.0, entropy_floor=1e-06, min_temp=0.0, max_temp=inf)" in out
    assert "sentence(temperatures)" in out and "One temperature per sentence" in out
    # The doc line is the first sentence whole, even when it spans lines of the docstring.
    assert "(in prose, when ``sentences``), ``low`` everywhere else.\n" in out


@pytest.mark.parametrize("argv, message", [
    (["generate", "x", "--strategy", "edtt"], "unknown strategy 'edtt'. Did you mean 'edt'?"),
    (["generate", "x", "--top-p", "2"], "top_p must be <= 1.0, got 2.0"),
    (["generate", "x", "--param", "theta"], "--param: expected KEY=VALUE, got 'theta'"),
    (["generate", "x", "--strategy", "edt", "--param", "thta=1"], "unknown parameter 'thta'"),
    (["generate", "x", "--sentence-temps", "a,b"], "--sentence-temps takes numbers"),
    (["generate", "x", "--rules", "missing.toml"], "rules file not found: missing.toml"),
    (["generate", "x", "--model", "missing.gguf"], "model file not found: missing.gguf"),
    (["generate", "x", "--samplers", "top_k;dry;temperature"], "'dry' sampler is not a dyntemp stage"),
    (["generate", "x", "--strategy", "edt", "--rules", "r.toml"], "give one of --strategy, --rules"),
    (["generate", "x", "--top-k", "many"], "invalid int value: 'many'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv, out=io.StringIO())
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().splitlines()[-1].startswith("dyntemp")


def test_help_everywhere():
    for argv in (["--help"], ["generate", "--help"], ["strategies", "--help"]):
        result = subprocess.run([sys.executable, "-m", "dyntemp.cli", *argv], capture_output=True, text=True)
        assert result.returncode == 0 and "usage: dyntemp" in result.stdout


def test_threads_and_gpu_layers_reach_the_model(monkeypatch, capsys):
    from dyntemp.llama import model

    loaded = []
    real = model.load_model

    def spy(*args, **kwargs):
        loaded.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "load_model", spy)
    status, out = run("generate", "The capital of France is", "-t", "1", "-ngl", "3", "--temp", "0", "-n", "2")
    assert status == 0 and out.startswith(" Paris")
    assert loaded[0]["n_threads"] == 1 and loaded[0]["n_gpu_layers"] == 3
    # A CPU build cannot offload: said in one line, not ignored.
    assert ("dyntemp: warning: n_gpu_layers=3 has no effect: this llama.cpp is a CPU build"
            in capsys.readouterr().err)


@pytest.mark.parametrize("argv, message", [
    (["generate", "Hi", "--threads", "abc"],
     "argument --threads/-t: invalid int value: 'abc' (see: dyntemp generate --help)"),
    (["generate", "Hi", "--bogus"], "unrecognized arguments: --bogus (see: dyntemp --help)"),
    (["generate", "Hi", "--threads", "0"], "--threads must be >= 1, got 0"),
    (["generate", "Hi", "-ngl", "-2"], "--n-gpu-layers must be >= -1 (-1: all layers), got -2"),
    (["eval", "--strategy", "dynatemp", "--out", "x", "-t", "-1"], "--threads must be >= 1, got -1"),
])
def test_bad_host_flags_exit_2_before_loading(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and capsys.readouterr().err == f"dyntemp: error: {message}\n"


def test_eval_warns_when_workers_times_threads_exceed_the_cores(tmp_path, capsys):
    from dyntemp.host import physical_cores

    threads = physical_cores()
    status, _ = run("eval", "--strategy", "constant:temperature=0", "--limit", "1", "--seeds", "1", "-n", "2",
                    "--workers", "2", "-t", str(threads), "--out", str(tmp_path / "run"), "--no-progress")
    assert status == 0
    assert (f"dyntemp: warning: 2 workers x {threads} thread(s) = {2 * threads} threads on {threads} physical cores"
            in capsys.readouterr().err)
