"""The compiled sampling kernel against its numpy fallback, property by property, and an install
where no C compiler builds it: dyntemp still samples, on numpy, with one warning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import dyntemp
from dyntemp.core import kernel
from dyntemp.testing import on_each_path

ROOT = Path(__file__).resolve().parent.parent

# Logits as models make them, with ties (a coarse grid) and removed tokens; lengths around the
# kernel's vector width (16) and block (64).
_values = st.one_of(st.floats(-30, 30, width=32).map(lambda v: round(v, 1)), st.just(-np.inf))
logits = st.integers(1, 300).flatmap(lambda n: arrays(np.float32, n, elements=_values)).filter(
    lambda x: np.isfinite(x).any())


def test_the_kernel_is_built_and_used():
    assert kernel.available() and kernel.path().startswith("compiled")
    kernel.check()  # beside numpy, up to a vocabulary of 262,144 (whose pass reads larger blocks)


@given(logits, st.integers(1, 50))
@settings(max_examples=300, deadline=None)
def test_scan_agrees_with_numpy(x, k):
    (lse, h, ids, values), (lse0, h0, ids0, values0) = on_each_path(kernel.scan, x, k)
    assert ids.tolist() == ids0.tolist() and values.tolist() == values0.tolist()
    assert ids.size == min(k, int(np.isfinite(x).sum()))
    assert abs(lse - lse0) <= 1e-5 * max(1.0, abs(lse0)) and abs(h - h0) <= 1e-4
    # float64 reference: the kernel's entropy is the more accurate
    z = x[np.isfinite(x)].astype(np.float64)
    e = np.exp(z - z.max())
    assert abs(h - (np.log(e.sum()) - (e * (z - z.max())).sum() / e.sum())) <= 1e-5


@given(logits, st.floats(0.05, 0.99), st.floats(-5, 5, width=32))
@settings(max_examples=300, deadline=None)
def test_cuts_draws_and_entropies_agree_with_numpy(x, p, threshold):
    def cuts():
        head, cut = kernel.top_p(x, p)
        return (head[:cut].tolist(), kernel.at_least(x, threshold)[0].tolist(), kernel.count_at_least(x, threshold),
                kernel.deviation(x))

    compiled, numpy = on_each_path(cuts)
    assert compiled[:3] == numpy[:3]
    np.testing.assert_allclose(compiled[3], numpy[3], rtol=1e-9)
    ranked = np.sort(x[np.isfinite(x)])[::-1].copy()
    for u in (0.0, 0.3, 0.999):
        (j, q), (j0, q0) = on_each_path(kernel.draw, ranked, True, u)
        assert j == j0 and abs(q - q0) <= 1e-12 * q0  # numpy's exp may round a last bit apart
    prefix, prefix0 = on_each_path(kernel.mass_prefix, ranked, p)
    assert prefix == prefix0
    a, b = on_each_path(kernel.entropy, ranked)
    assert abs(a - b) <= 1e-12
    for min_p in (0.0, 0.05, p):
        (n, h), (n0, h0) = on_each_path(kernel.head, ranked, p, min_p, 2)
        assert n == n0 and abs(h - h0) <= 1e-12
        assert abs(h - kernel.entropy(ranked[:n])) <= 1e-12


@given(logits, st.integers(1, 60), st.sampled_from([1.0, 0.5, 0.9, 0.95]), st.sampled_from([0.0, 0.05, 0.3]),
       st.integers(0, 5), st.floats(0.0, 3.0))
@settings(max_examples=300, deadline=None)
def test_the_common_chain_in_one_call_gives_what_its_stages_give(x, k, top_p, min_p, min_keep, temperature):
    # top-k, top-p, min-p, temperature: in one kernel call, and through the stage objects
    def run(fused: bool):
        sampler = dyntemp.Sampler(temperature, top_k=k, top_p=top_p, min_p=min_p, min_keep=min_keep, seed=3)
        pipeline = sampler._pipeline
        assert pipeline._common is not None
        if not fused:
            pipeline._common = None
        _, entropy, top_ids, top_logits = kernel.scan(x, pipeline.scan_k)
        step = dyntemp.Step(0, x, sampler._tracker, [], None, entropy)
        ids, values, t, is_sorted, memo = pipeline.run(step, x, None, np.random.default_rng(0), sampler._temperature,
                                                       top_ids, top_logits)
        return ids.tolist(), values.tolist(), t, is_sorted, step.n_candidates, step.candidate_entropy

    for compiled in (True, False):
        with kernel.running(compiled):
            fused, staged = run(True), run(False)
            assert fused[:5] == staged[:5]
            assert abs(fused[5] - staged[5]) <= 1e-12


@pytest.mark.parametrize("bad, message", [([1.0, np.nan], "NaN at index 1"), ([np.inf, 0.0], "+inf"),
                                          ([-np.inf, -np.inf], "all -inf"), ([], "empty")])
def test_unusable_logits_get_the_same_error_on_both_paths(bad, message):
    for compiled in (True, False):
        with kernel.running(compiled), pytest.raises(ValueError, match=message.replace("+", r"\+")):
            kernel.scan(np.array(bad, dtype=np.float32), 4)


def test_a_strided_or_float64_vector_is_read_as_numpy_reads_it():
    x = np.linspace(-3, 3, 400)
    sampler = dyntemp.Sampler(1.0, top_k=5, seed=1)
    expected = sampler.distribution(np.ascontiguousarray(x[::2], dtype=np.float32))
    np.testing.assert_array_equal(sampler.distribution(x[::2]), expected)


def _source_tree(target: Path) -> Path:
    """The project's files as a fresh clone has them: no build, no compiled kernel."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


CHILD = r"""
import json, sys, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import dyntemp
    from dyntemp.core import kernel
    from dyntemp.llama import load_model
    result = dyntemp.Sampler("edt", seed=11).generate(load_model(n_ctx=256), "The sea is", max_tokens=24)
print(json.dumps({"file": dyntemp.__file__, "path": kernel.path(), "tokens": result.tokens,
                  "warnings": [str(w.message) for w in caught if "kernel" in str(w.message)]}))
"""


def test_without_a_c_compiler_dyntemp_installs_and_samples_on_numpy_with_one_warning(tmp_path, llm):
    source = _source_tree(tmp_path / "src")
    env = {**os.environ, "CC": "false", "CXX": "false"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "-w", str(tmp_path / "wheel"), str(source)], env=env, check=True, capture_output=True)
    wheel = next((tmp_path / "wheel").glob("dyntemp-*.whl"))
    assert not [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith((".so", ".pyd"))]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "--target", str(tmp_path / "site"), str(wheel)], check=True, capture_output=True)
    run = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    assert run.returncode == 0, run.stderr
    child = json.loads(run.stdout)
    assert child["file"].startswith(str(tmp_path / "site"))
    assert child["path"].startswith("numpy (the compiled kernel did not load")
    assert len(child["warnings"]) == 1 and "runs on numpy" in child["warnings"][0]
    # the same tokens as the compiled kernel gives here
    assert child["tokens"] == dyntemp.Sampler("edt", seed=11).generate(llm, "The sea is", max_tokens=24).tokens


def test_the_portable_build_picks_its_simd_at_load_time_and_agrees_with_numpy(tmp_path):
    """What a plain ``pip install`` builds: every hot function in three versions (x86-64-v4, v3,
    baseline), the loader choosing by this CPU."""
    source = _source_tree(tmp_path)
    subprocess.run([sys.executable, "setup.py", "--quiet", "build_ext", "--inplace"], cwd=source, check=True,
                   capture_output=True, env={k: v for k, v in os.environ.items() if k != "CFLAGS"})
    code = "from dyntemp.core import kernel; kernel.check(); print(kernel.path())"
    run = subprocess.run([sys.executable, "-c", code], cwd=source, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(source)})
    assert run.returncode == 0, run.stderr
    from dyntemp.host import cpu_flags

    flags = cpu_flags()
    best = ("x86-64-v4 (AVX-512)" if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags else
            "x86-64-v3 (AVX2)" if {"avx2", "fma"} <= flags else "x86-64 (SSE2)")
    assert run.stdout.strip() == f"compiled, portable build, running {best}"
