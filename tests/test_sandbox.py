"""The sandbox for code replies, with real subprocesses: passing and failing code, refused writes,
sockets and processes, the time limit, and extracting the code from a reply."""

from __future__ import annotations

import time

import pytest

from dyntemp.eval.sandbox import SandboxResult, extract_code, run_tests

ADD = "def add(a, b):\n    return a + b\n"
TESTS = ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]


def test_a_correct_function_passes():
    assert run_tests(ADD, TESTS) == SandboxResult(passed=True, error=None, output="")


def test_a_wrong_function_fails_naming_the_assertion():
    result = run_tests("def add(a, b):\n    return a * b\n", TESTS)
    assert not result.passed
    assert result.error == "test 1 failed: assert add(2, 3) == 5"


def test_the_first_failing_test_is_named_with_its_number_and_message():
    result = run_tests("def add(a, b):\n    return 5\n", TESTS + ["assert add(0, 0) == 0, 'zero'"])
    assert result.error == "test 2 failed: assert add(-1, 1) == 0"
    result = run_tests("def add(a, b):\n    return a + b + (a == 0)\n", TESTS + ["assert add(0, 0) == 0, 'zero'"])
    assert result.error == "test 3 failed: assert add(0, 0) == 0, 'zero' (zero)"


def test_a_syntax_error_fails():
    result = run_tests("def add(a, b)\n    return a + b\n", TESTS)
    assert not result.passed
    assert result.error.startswith("the code raised SyntaxError") and result.error.endswith("(line 1)")


def test_an_exception_in_a_test_is_named():
    result = run_tests("def add(a, b):\n    return a + b\n", ["assert subtract(1, 1) == 0"])
    assert result.error == "test 1 raised NameError: name 'subtract' is not defined: assert subtract(1, 1) == 0"


def test_a_missing_function_fails():
    result = run_tests("print('no function here')", TESTS)
    assert not result.passed and "NameError" in result.error
    assert result.output == "no function here\n"


def test_a_write_outside_the_sandbox_is_refused_and_nothing_is_written(tmp_path):
    target = tmp_path / "escaped.txt"
    result = run_tests(f"open({str(target)!r}, 'w').write('x')\n" + ADD, TESTS)
    assert result == SandboxResult(False, f"refused: write outside the sandbox: {target}")
    assert not target.exists()


def test_a_refusal_fails_even_when_the_reply_catches_it(tmp_path):
    target = tmp_path / "caught.txt"
    code = f"try:\n    open({str(target)!r}, 'a')\nexcept OSError:\n    pass\n" + ADD
    assert run_tests(code, TESTS).error == f"refused: write outside the sandbox: {target}"
    assert not target.exists()


def test_removing_or_renaming_outside_is_refused(tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("keep")
    for code in (f"import os\nos.remove({str(victim)!r})", f"import os\nos.rename({str(victim)!r}, 'moved.txt')",
                 f"import shutil\nshutil.rmtree({str(tmp_path)!r})"):
        result = run_tests(code + "\n" + ADD, TESTS)
        assert result.error.startswith("refused: write outside the sandbox: "), code
    assert victim.read_text() == "keep"


def test_writing_inside_its_own_directory_is_allowed():
    code = ("import os, tempfile\nos.mkdir('data')\nwith open('data/notes.txt', 'w') as f:\n    f.write('hi')\n"
            "with tempfile.TemporaryFile() as t:\n    t.write(b'x')\nos.remove('data/notes.txt')\n") + ADD
    assert run_tests(code, TESTS).passed


def test_reading_files_is_allowed():
    assert run_tests("import json, os\nassert os.path.exists(json.__file__)\nopen(json.__file__).read()\n" + ADD,
                     TESTS).passed


def test_an_endless_loop_is_stopped_at_the_time_limit():
    start = time.monotonic()
    result = run_tests("while True:\n    pass\n", TESTS, timeout=1.5)
    assert time.monotonic() - start < 1.5 + 3
    assert result == SandboxResult(False, "timed out after 1.5 s")


def test_a_socket_connection_is_refused():
    code = "import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 9))\n" + ADD
    assert run_tests(code, TESTS).error == "refused: network access (socket.__new__)"
    code = "import urllib.request\nurllib.request.urlopen('http://example.com')\n" + ADD
    assert run_tests(code, TESTS).error.startswith("refused: network access (socket.")


@pytest.mark.parametrize("call, event", [
    ("import subprocess\nsubprocess.run(['true'])", "subprocess.Popen"),
    ("import os\nos.system('true')", "os.system"),
    ("import os\nos.fork()", "os.fork"),
    ("import os\nos.kill(os.getppid(), 0)", "os.kill"),
])
def test_starting_or_signalling_a_process_is_refused(call, event):
    assert run_tests(call + "\n" + ADD, TESTS).error == f"refused: starting or signalling a process ({event})"


def test_stdin_is_closed_and_output_is_truncated():
    assert run_tests("input()", TESTS).error == "the code raised EOFError: EOF when reading a line"
    result = run_tests("print('x' * 10000)\n" + ADD, TESTS)
    assert result.passed and result.output == "x" * 4000 + "\n[output truncated]"


def test_exiting_early_is_not_a_pass():
    assert run_tests("import os\nos._exit(0)", TESTS).error == "exited with status 0 before the tests finished"
    assert run_tests("import sys\nsys.exit(0)", TESTS).error == "the code raised SystemExit: 0"


def test_a_crash_is_named_by_its_signal():
    assert run_tests("import os\nos.abort()", TESTS) == SandboxResult(False, "killed by SIGABRT")


def test_memory_is_limited():
    assert run_tests("block = bytearray(4 * 1024 ** 3)", TESTS).error == "the code raised MemoryError"


def test_main_blocks_of_the_reply_do_not_run():
    assert run_tests(ADD + "if __name__ == '__main__':\n    input()\n", TESTS).passed


@pytest.mark.parametrize("kwargs, message", [
    ({"timeout": 0}, "timeout must be > 0, got 0.0"),
    ({"timeout": -1.0}, "timeout must be > 0, got -1.0"),
    ({"timeout": "5"}, "timeout must be a number, got '5'"),
    ({"tests": "assert add(1, 1) == 2"}, "tests must be a non-empty list of non-empty strings, got 'assert"),
    ({"tests": []}, "tests must be a non-empty list of non-empty strings, got []"),
    ({"tests": ["assert True", 3]}, "tests must be a non-empty list of non-empty strings, got ['assert True', 3]"),
    ({"code": None}, "code must be a string, got NoneType"),
])
def test_bad_parameters_raise_value_error_naming_them(kwargs, message):
    arguments = {"code": ADD, "tests": TESTS, **kwargs}
    with pytest.raises(ValueError) as error:
        run_tests(**arguments)
    assert str(error.value).startswith(message)


def test_extract_code_takes_the_first_python_block():
    reply = ("Sure!\n```bash\npython add.py\n```\nThe function:\n```python\ndef add(a, b):\n    return a + b\n```\n"
             "Use it like this:\n```py\nprint(add_numbers(1, 2))\n```\n")
    assert extract_code(reply) == "def add(a, b):\n    return a + b\n"
    assert extract_code("```Python3 \nx = 1\n```") == "x = 1\n"


def test_extract_code_falls_back_to_untagged_blocks_then_the_reply():
    assert extract_code("Here:\n```\nx = 1\n```\nor\n```\nx = 2\n```\n") == "x = 1\n"
    assert extract_code("x = 1\ny = 2") == "x = 1\ny = 2"


def test_extract_code_keeps_a_block_cut_off_before_its_fence():
    assert extract_code("```python\ndef f():\n    return 1\n") == "def f():\n    return 1\n"

