"""``dyntemp batch`` on the default model: records, resume, refusals, bad lines named by file and
line, standard input and output, order, the lock, Ctrl-C, and the same records on 1 and 2 workers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from dyntemp import Sampler
from dyntemp.batch.lines import line_seed

LINES = [
    {"id": "sea", "prompt": "The sea is", "max_tokens": 12},
    {"prompt": "Once upon a time", "strategy": "edt:theta=0.6"},
    {"id": 7, "messages": [{"role": "user", "content": "Say hi"}], "sentence_temps": [0.2, 1.0], "seed": 99},
    {"id": "greedy", "prompt": "The capital of France is", "temperature": 0, "stop": ["."], "top_k": 5},
]


def _write(path, lines) -> None:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))


def _batch(*args, input=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dyntemp", "batch", *args], capture_output=True, text=True,
                          input=input, timeout=timeout)


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    _write(folder / "in.jsonl", LINES)
    result = _batch(str(folder / "in.jsonl"), "-o", str(folder / "out.jsonl"), "--seed", "5", "--max-tokens", "20",
                    "--trace")
    assert result.returncode == 0, result.stderr
    return folder


def test_records_say_what_made_them(first_run, model2048):
    records = {r["id"]: r for r in _records(first_run / "out.jsonl")}
    assert len(records) == 4 and "sea" in records and "7" in records and "greedy" in records
    sea = records["sea"]
    assert sea["completion_tokens"] <= 12 and sea["seed"] == line_seed(5, "sea")
    assert sea["settings"]["strategy"]["name"] == "constant"
    assert len(sea["trace"]["temperature"]) == sea["completion_tokens"]
    hashed = next(r for key, r in records.items() if key.startswith("h"))
    assert hashed["seed"] == line_seed(5, hashed["id"]) and hashed["strategy"] == "edt"
    assert hashed["completion_tokens"] <= 20
    assert records["7"]["seed"] == 99
    assert {t for t in records["7"]["trace"]["temperature"]} <= {0.2, 1.0}
    expected = Sampler(0.0, top_k=5, seed=line_seed(5, "greedy")).generate(model2048, "The capital of France is",
                                                                           max_tokens=20, stop=".")
    assert records["greedy"]["text"] == expected.text and records["greedy"]["finish_reason"] == "stop"
    expected = Sampler(0.8, seed=line_seed(5, "sea")).generate(model2048, "The sea is", max_tokens=12)
    assert sea["text"] == expected.text


def test_a_rerun_skips_what_is_done_and_redoes_a_torn_line(first_run):
    out = first_run / "out.jsonl"
    before = out.read_text()
    result = _batch(str(first_run / "in.jsonl"), "-o", str(out), "--seed", "5", "--max-tokens", "20", "--trace")
    assert result.returncode == 0 and "0 made" in result.stderr and out.read_text() == before
    lines = before.splitlines(keepends=True)
    out.write_text("".join(lines[:-1]) + lines[-1][:40])  # killed mid-line
    result = _batch(str(first_run / "in.jsonl"), "-o", str(out), "--seed", "5", "--max-tokens", "20", "--trace")
    assert result.returncode == 0 and "1 made" in result.stderr
    assert sorted(out.read_text().splitlines()) == sorted(before.splitlines())


def test_other_settings_into_the_same_output_are_refused(first_run):
    result = _batch(str(first_run / "in.jsonl"), "-o", str(first_run / "out.jsonl"), "--seed", "5", "--top-k", "3")
    assert result.returncode == 2 and "made with other settings" in result.stderr and "Traceback" not in result.stderr


def test_an_edited_line_under_its_old_id_is_refused(first_run, tmp_path):
    edited = [dict(LINES[0], prompt="The sky is"), *LINES[1:]]
    _write(tmp_path / "in.jsonl", edited)
    result = _batch(str(tmp_path / "in.jsonl"), "-o", str(first_run / "out.jsonl"), "--seed", "5", "--max-tokens", "20",
                    "--trace")
    assert result.returncode == 2 and "id 'sea' made from another line" in result.stderr
    result = _batch(str(first_run / "in.jsonl"), "-o", str(first_run / "out.jsonl"), "--seed", "5", "--max-tokens", "30",
                    "--trace")
    assert result.returncode == 2 and "another --chat, --max-tokens, --model or --chat-template" in result.stderr


def test_a_chat_template_formats_the_chat_lines_and_is_part_of_what_made_them(first_run, tmp_path, model2048):
    from dyntemp.llama import chat_tokens

    template = "{{ bos_token }}{% for m in messages %}Question: {{ m['content'] }}\nAnswer:{% endfor %}"
    (tmp_path / "qa.jinja").write_text(template)
    args = (str(first_run / "in.jsonl"), "--seed", "5", "--max-tokens", "20", "--trace",
            "--chat-template", str(tmp_path / "qa.jinja"))
    refused = _batch(*args, "-o", str(first_run / "out.jsonl"))
    assert refused.returncode == 2 and "id '7' made from another line or other options" in refused.stderr
    result = _batch(*args, "-o", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr
    records = {r["id"]: r for r in _records(tmp_path / "out.jsonl")}
    assert records["7"]["prompt_tokens"] == len(chat_tokens(model2048, LINES[2]["messages"], template))
    plain = {r["id"]: r for r in _records(first_run / "out.jsonl")}
    assert records["sea"]["text"] == plain["sea"]["text"]  # a prompt line is not a chat: unchanged


def test_an_output_that_is_not_a_batch_s_is_left_as_it_is(first_run, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "a"}\n{"prompt": "b"}')  # no newline at the end
    result = _batch(str(first_run / "in.jsonl"), "-o", str(prompts), "--seed", "5")
    assert result.returncode == 2 and "prompts.jsonl:1: not a generation record" in result.stderr
    assert prompts.read_text() == '{"prompt": "a"}\n{"prompt": "b"}'


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "in.jsonl:2: not JSON"),
    ({"prompt": "x", "temprature": 1}, "in.jsonl:2: unknown field 'temprature'. Did you mean 'temperature'?"),
    ({"prompt": "x", "messages": [{"role": "user", "content": "y"}]}, 'in.jsonl:2: a line has "prompt" or "messages"'),
    ({"id": "a", "prompt": "y"}, "in.jsonl:2: id 'a' is also the id of line 1"),
    ({"prompt": "x", "top_p": 3}, "in.jsonl:2: top_p must be <= 1.0"),
    ({"prompt": "x", "strategy": "edtt"}, "Did you mean 'edt'"),
    ({"prompt": "hello " * 2100}, "in.jsonl:2: the prompt is"),
    ({"prompt": [5, -1]}, "in.jsonl:2: prompt: token ids must be from 0 to 49151"),
    ({"prompt": "x", "logit_bias": {"49152": 1}}, "in.jsonl:2: logit_bias: '49152' is not a token id"),
    ("[1, 2]", "in.jsonl:2: a line must be a JSON object"),
    ({"prompt": "x", "stop": ["."] * 100}, "in.jsonl:2: stop has 100 strings; at most 16 are allowed (--max-stop 16)"),
    ({"prompt": "x", "grammar": "root ::= " + "(" * 5000 + '"a"' + ")" * 5000}, "--max-grammar-depth 128"),
    ({"prompt": "hello " * 400_000}, "in.jsonl:2: prompt has 2400000 characters"),
])
def test_a_bad_line_is_named_before_any_work(tmp_path, line, message):
    _write(tmp_path / "in.jsonl", [{"id": "a", "prompt": "Hi"}, line])
    result = _batch(str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--seed", "1")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out.jsonl").exists()


def test_a_huge_line_is_refused_unread(tmp_path):
    # 50 MB on one line: tokenized whole before its length was checked (125 s, 5.3 GB), unchecked.
    source = tmp_path / "in.jsonl"
    with source.open("w") as f:
        f.write(json.dumps({"prompt": "Hi"}) + "\n" + '{"prompt": "' + "hello " * 8_750_000 + '"}\n')
    code = ("import resource, subprocess, sys; r = subprocess.run([sys.executable, '-m', 'dyntemp', 'batch', "
            f"{str(source)!r}, '-o', {str(tmp_path / 'out.jsonl')!r}, '--seed', '1'], capture_output=True, text=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(r.returncode); print(r.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    peak_kb, status, stderr = result.stdout.split("\n", 2)
    assert status == "2" and "in.jsonl:2: the line has more than 8388608 bytes" in stderr, stderr
    assert "--max-body-bytes 8388608" in stderr and "Traceback" not in stderr
    assert int(peak_kb) < 400_000  # a few MB of the line at a time, not all of it tokenized
    smaller = _batch(str(source), "-o", str(tmp_path / "out.jsonl"), "--max-body-bytes", "1000")
    assert smaller.returncode == 2 and "(--max-body-bytes 1000)" in smaller.stderr


def test_an_output_that_cannot_be_written_is_named(tmp_path):
    _write(tmp_path / "in.jsonl", [{"prompt": "Hi"}])
    result = _batch(str(tmp_path / "in.jsonl"), "-o", "/proc/dyntemp-out.jsonl", "--seed", "1")
    assert result.returncode == 2 and "/proc/dyntemp-out.jsonl: cannot write there" in result.stderr, result.stderr
    assert ".lock" not in result.stderr


def test_standard_input_and_output_in_order(tmp_path):
    text = "".join(json.dumps(line) + "\n" for line in LINES) + "\n"  # a blank line is no request
    result = _batch("-", "-o", "-", "--seed", "5", "--max-tokens", "20", "--ordered", "--workers", "2", input=text)
    assert result.returncode == 0, result.stderr
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids[0] == "sea" and ids[2:] == ["7", "greedy"] and len(ids) == 4


def test_two_workers_give_the_records_of_one(first_run, tmp_path):
    result = _batch(str(first_run / "in.jsonl"), "-o", str(tmp_path / "two.jsonl"), "--seed", "5", "--max-tokens", "20",
                    "--trace", "--workers", "2", "--ordered")
    assert result.returncode == 0, result.stderr
    one = {r["id"]: r for r in _records(first_run / "out.jsonl")}
    two = _records(tmp_path / "two.jsonl")
    assert [r["id"] for r in two] == ["sea", next(k for k in one if k.startswith("h")), "7", "greedy"]
    assert {r["id"]: r for r in two} == one


def _long_input(path, n: int = 12) -> None:
    _write(path, [{"id": f"l{i}", "prompt": f"Story {i}:", "max_tokens": 60, "ignore_eos": True} for i in range(n)])


def test_one_writer_per_output(tmp_path):
    _long_input(tmp_path / "in.jsonl")
    first = subprocess.Popen([sys.executable, "-m", "dyntemp", "batch", str(tmp_path / "in.jsonl"), "-o",
                              str(tmp_path / "out.jsonl"), "--seed", "1"], stderr=subprocess.PIPE, text=True)
    try:
        while not (tmp_path / "out.jsonl").exists() or not (tmp_path / "out.jsonl").read_text():
            assert first.poll() is None, first.stderr.read()
            time.sleep(0.1)
        second = _batch(str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--seed", "1")
        assert second.returncode == 2 and "being written by another batch" in second.stderr
    finally:
        assert first.wait(300) == 0
    assert len(_records(tmp_path / "out.jsonl")) == 12


def test_ctrl_c_keeps_a_valid_file_and_the_rerun_completes_it(tmp_path):
    _long_input(tmp_path / "in.jsonl", 16)  # enough that a busy machine's late signal still finds work
    out = tmp_path / "out.jsonl"
    running = subprocess.Popen([sys.executable, "-m", "dyntemp", "batch", str(tmp_path / "in.jsonl"), "-o", str(out),
                                "--seed", "1"], stderr=subprocess.PIPE, text=True)
    while not out.exists() or len(out.read_text().splitlines()) < 1:
        assert running.poll() is None, running.stderr.read()
        time.sleep(0.05)
    running.send_signal(signal.SIGINT)
    assert running.wait(60) == 130
    kept = _records(out)  # every line whole
    assert 1 <= len(kept) < 16
    result = _batch(str(tmp_path / "in.jsonl"), "-o", str(out), "--seed", "1")
    assert result.returncode == 0 and f"{16 - len(kept)} made" in result.stderr
    ids = [r["id"] for r in _records(out)]
    assert sorted(ids) == sorted(f"l{i}" for i in range(16))


def test_a_rerun_without_seed_goes_on_with_the_output_s_seed(tmp_path):
    _write(tmp_path / "in.jsonl", LINES)
    full = _batch(str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "full.jsonl"), "--max-tokens", "8")
    assert full.returncode == 0 and "batch: seed " in full.stderr
    lines = (tmp_path / "full.jsonl").read_text().splitlines(keepends=True)
    first = next(line for line in lines if json.loads(line)["id"] == "sea")  # seeded by the base, not its own
    (tmp_path / "part.jsonl").write_text(first)
    rest = _batch(str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "part.jsonl"), "--max-tokens", "8")
    assert rest.returncode == 0 and "as the records in" in rest.stderr and "3 made" in rest.stderr
    assert sorted((tmp_path / "part.jsonl").read_text().splitlines()) == sorted(line.strip() for line in lines)
