"""dyntemp's DRY, mirostat (v1, v2) and adaptive-p against llama.cpp's own samplers (through
``llama_cpp``), quadratic smoothing against text-generation-webui's formula.

The stateful samplers run over multi-step sequences with the randomness pinned: dyntemp's selector
learns from the token llama.cpp drew, so both states move on the same path. Where llama.cpp sums
probabilities in float32, a kept set may differ by a token or two at the cut: each such token must
sit within float32 error of the cut, and the steps where it happens are counted and bounded.
"""

from __future__ import annotations

import ctypes

import llama_cpp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

import dyntemp
from dyntemp.core import AdaptiveP, Mirostat, dry, kernel, quadratic_smoothing
from dyntemp.llama.dry import dry_breakers
from dyntemp.llama.native import TokenArray
from dyntemp.testing import on_each_path

BREAKERS = ["\n", ":", "\"", "*"]
# The last is longer than any history here. dyntemp reads -1 as the whole history, as upstream llama.cpp
# does; this build's native DRY reads it as a context of 0 and does nothing, so -1 is checked on its own.
WINDOWS = (16, 64, 256, 1024)
# Real text with repeats, and newlines, colons, quotes and asterisks among them.
TEXT = ('Q: What is the capital of France?\nA: The capital of France is "Paris".\nQ: What is the capital of Spain?\n'
        'A: The capital of Spain is "Madrid".\n* Note: the capital of Italy is "Rome", of Spain "Madrid".\n' +
        'The capital of France is Paris, the capital of Spain is Madrid and the capital of Italy is Rome. ' * 2 +
        'def area(r): return 3.14 * r * r\ndef volume(r): return 4.19 * r * r * r\n' * 2)

_ARRAYS: dict[int, TokenArray] = {}


@pytest.fixture
def own():
    """Frees the native samplers (or chains, which own theirs) it registers when the test ends."""
    held = []
    yield lambda sampler: held.append(sampler) or sampler
    for sampler in held:
        llama_cpp.llama_sampler_free(sampler)


def _apply(sampler, x, candidates=None):
    """The token data a native sampler leaves on ``x`` (a copy) and the index it selected."""
    if x.size not in _ARRAYS:
        _ARRAYS[x.size] = TokenArray(x.size)
    tokens = _ARRAYS[x.size]
    out = tokens.apply(sampler, x, candidates).copy()
    return out, int(tokens.array.selected)


def _full(out, n):
    full = np.full(n, -np.inf, dtype=np.float32)
    full[out["id"]] = out["logit"]
    return full


def _chain(*samplers):
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    for sampler in samplers:
        llama_cpp.llama_sampler_chain_add(chain, sampler)
    return chain


def _native_dry(llm, multiplier, base, allowed_length, last_n, breakers=BREAKERS):
    texts = (ctypes.c_char_p * len(breakers))(*[b.encode() for b in breakers])
    return llama_cpp.llama_sampler_init_dry(llama_cpp.llama_model_get_vocab(llm.model), multiplier, base,
                                            allowed_length, last_n, texts, len(breakers))


def _accept(sampler, tokens):
    for token in tokens:
        llama_cpp.llama_sampler_accept(sampler, int(token))


def _surprise(x):
    """Exact (float64) surprise -log2 p of every token of softmax(x)."""
    z = x.astype(np.float64) - float(x.max())
    return -(z - np.log(np.exp(z).sum())) / np.log(2.0)


def _surprise_tol(n):
    """How far from exact (in bits) a float32 surprise may be: a float32 running sum over n
    probabilities is off by up to (n - 1)·2^-24 relative; llama.cpp and dyntemp sum in different orders."""
    return float(np.log2(1 + 2 * n * 2.0**-24))


def _histories(llm, n_vocab, count, rng):
    """Prefixes of TEXT (real tokens: breakers matter) and random tokens with repeated chunks whose
    ends repeat (several continuations to penalize), sprinkled with a newline, a breaker."""
    text = llm.tokenize(TEXT.encode(), add_bos=False)
    newline = llm.tokenize(b"\n", add_bos=False)[0]
    out = [np.array(text[:int(rng.integers(20, len(text)))]) for _ in range(count // 2)]
    for _ in range(count - count // 2):
        h = rng.integers(0, n_vocab, size=int(rng.integers(60, 300)))
        chunk = h[:int(rng.integers(3, 12))]
        for at in rng.choice(np.arange(chunk.size + 1, h.size - 2 * chunk.size), size=3, replace=False):
            h[at:at + chunk.size] = chunk
        h[h.size - chunk.size:] = chunk
        h[rng.random(h.size) < 0.01] = newline
        out.append(h)
    return out


@pytest.mark.parametrize("multiplier, base, allowed_length", [(0.8, 1.75, 2), (1.5, 1.1, 3), (0.5, 3.0, 1)])
def test_dry_matches_native(llm, logit_vectors, own, multiplier, base, allowed_length):
    rng = np.random.default_rng(1)
    breakers = dry_breakers(llm, BREAKERS)
    histories = {n: _histories(llm, n, 40, rng) for n in {x.size for x in logit_vectors}}
    natives, penalized = {}, 0
    for i, x in enumerate(logit_vectors):
        # Every history meets every window over the 1,000 vectors (DRY's penalties do not depend on x).
        key = (x.size, i % 40, WINDOWS[i // 40 % len(WINDOWS)])
        history = histories[x.size][key[1]]
        if key not in natives:
            natives[key] = own(_native_dry(llm, multiplier, base, allowed_length, key[2]))
            _accept(natives[key], history)
        ours = dry(x, history, multiplier, base, allowed_length, key[2], breakers=breakers)
        theirs = _full(_apply(natives[key], x)[0], x.size)
        assert np.array_equal(ours == -np.inf, theirs == -np.inf)
        np.testing.assert_array_max_ulp(ours[ours > -np.inf], theirs[ours > -np.inf], maxulp=2)
        penalized += int(np.any(ours != x))
    assert penalized > len(logit_vectors) // 3  # most histories end in a repeat: not vacuous


def test_dry_minus_one_is_the_whole_history(llm, real_logits):
    rng = np.random.default_rng(4)
    breakers = dry_breakers(llm, BREAKERS)
    differs = windowed = 0
    for x, history in zip(real_logits[:100], _histories(llm, real_logits.shape[1], 100, rng)):
        whole = dry(x, history, 0.8, 1.75, 2, -1, breakers=breakers)
        np.testing.assert_array_equal(whole, dry(x, history, 0.8, 1.75, 2, len(history), breakers=breakers))
        differs += int(np.any(whole != x))
        windowed += int(np.any(whole != dry(x, history, 0.8, 1.75, 2, 16, breakers=breakers)))
    assert differs > 30 and windowed > 10  # -1 penalizes, and reaches further back than a short window


def test_dry_sequence_breakers_and_exponent_clamp(llm, real_logits, own):
    x = real_logits[0]

    def both(words, multiplier=0.8, base=1.75, allowed_length=2, texts=BREAKERS):
        history = [tok[w] for w in words.split()]
        ours = dry(x, history, multiplier, base, allowed_length, 1024, breakers=dry_breakers(llm, texts))
        native = own(_native_dry(llm, multiplier, base, allowed_length, 1024, texts))
        _accept(native, history)
        np.testing.assert_array_equal(ours, _full(_apply(native, x)[0], x.size))
        changed = np.flatnonzero(ours != x)
        return dict(zip(changed.tolist(), (x - ours)[changed].tolist()))

    pieces = dict(A=" red", B=" blue", C=" green", D=" yellow", Q=" purple", N="\n", the=" the", end=" end")
    tok = {name: llm.tokenize(text.encode(), add_bos=False) for name, text in pieces.items()}
    assert all(len(ids) == 1 for ids in tok.values())  # one token each
    tok = {name: ids[0] for name, ids in tok.items()}
    A, D, N, Q = tok["A"], tok["D"], tok["N"], tok["Q"]
    approx = lambda penalties: pytest.approx(penalties, rel=1e-6)  # noqa: E731 (x - ours rounds)
    assert both("A B C D A B C") == approx({D: 0.8 * 1.75})  # "A B C" again: D would make it 4 long
    assert both("A B Q C D A B Q C") == approx({D: 0.8 * 1.75 ** 2})
    assert both("A B N C D A B N C") == {}  # the same repeat, a breaker inside: only "C" counts
    assert both("A B Q A B") == approx({Q: 0.8})
    assert both("A B N A B") == {}  # a breaker itself is never penalized
    # A breaker of several tokens: " the end" stops a repeat, " the" alone does not.
    texts = BREAKERS + [" the end"]
    assert both("A the end C D A the end C", texts=texts) == {}
    assert both("A the C D A the C", texts=texts) == approx({D: 0.8 * 1.75})
    # 100 tokens repeated: base^99 would overflow float32; llama.cpp clamps the exponent to
    # int(88.7228391 / ln 3) = 80.
    plain = [t for t in range(1000, 20000) if t not in dry_breakers(llm, BREAKERS) and t != A]
    chunk = np.random.default_rng(3).permutation(plain)[:100].tolist()
    history = " ".join(f"t{i}" for i in range(100))
    tok.update({f"t{i}": t for i, t in enumerate(chunk)})
    assert both(f"{history} A {history}", 0.5, 3.0, 1) == approx({A: 0.5 * 3.0 ** 80})


def test_dry_in_a_chain_step_by_step(llm, logit_vectors, own):
    """The same growing history fed step by step to a Sampler and to llama.cpp's chain
    dry → top-k → top-p → min-p → temperature, whose DRY slides its 64-token window as it accepts."""
    text = llm.tokenize(TEXT.encode(), add_bos=False)
    sampler = dyntemp.Sampler(1.0, top_k=40, top_p=0.95, min_p=0.05, dry_multiplier=0.8, dry_base=1.75,
                              dry_allowed_length=2, dry_penalty_last_n=64)
    sampler.use_dry_breakers(dry_breakers(llm, BREAKERS))
    plain = dyntemp.Sampler(1.0, top_k=40, top_p=0.95, min_p=0.05)
    native = own(_chain(_native_dry(llm, 0.8, 1.75, 2, 64), llama_cpp.llama_sampler_init_top_k(40),
                        llama_cpp.llama_sampler_init_top_p(0.95, 1), llama_cpp.llama_sampler_init_min_p(0.05, 1),
                        llama_cpp.llama_sampler_init_temp(1.0)))
    rng = np.random.default_rng(8)
    mismatched = dry_mattered = 0
    for start in range(0, len(logit_vectors), 20):
        prompt = 10 + (start // 20) * 7 % (len(text) - 40)
        history = list(text[:prompt])
        llama_cpp.llama_sampler_reset(native)
        _accept(native, history)
        for step, x in enumerate(logit_vectors[start:start + 20]):
            # Raise the recent tokens to the top so that DRY's penalties decide what the filters keep.
            x = x.copy()
            recent = history[-40:]
            x[recent] = x.max() - rng.uniform(0.0, 2.0, len(recent)).astype(np.float32)
            ours, numpy = on_each_path(sampler.process, x, history)
            np.testing.assert_array_equal(ours, numpy)
            theirs = _full(_apply(native, x)[0], x.size)
            mismatched += not np.array_equal(ours > -np.inf, theirs > -np.inf)
            kept = (ours > -np.inf) & (theirs > -np.inf)
            np.testing.assert_allclose(ours[kept], theirs[kept], rtol=2e-6)
            dry_mattered += not np.array_equal(ours, plain.process(x, history))
            history.append(text[prompt + step])  # the text goes on: the repeats grow
            llama_cpp.llama_sampler_accept(native, text[prompt + step])
    assert mismatched == 0
    assert dry_mattered > len(logit_vectors) // 4


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("tau, eta", [(5.0, 0.1), (3.0, 0.5), (8.0, 0.2)])
def test_mirostat_matches_native(logit_vectors, own, version, tau, eta):
    """dyntemp's Mirostat beside llama.cpp's over sequences of 10 steps, learning from the token
    llama.cpp drew. Resetting every 10 steps keeps mu near 2·tau: in long runs mu drifts to 20-40,
    where nearly the whole vocabulary is kept and llama.cpp's partially sorted array decides the cut."""
    # The 800 vectors at 49,152 and 5 sequences at 262,144: llama.cpp's mirostat sorts the whole
    # vocabulary at every step (20 ms at 262,144), and dyntemp's v1 too.
    vectors = [x for x in logit_vectors if x.size == 49_152] + [x for x in logit_vectors if x.size > 49_152][:50]
    miro, natives, moved = Mirostat(version, tau, eta), {}, 0
    for i, x in enumerate(vectors):
        if x.size not in natives:  # v1 reads the vocabulary size
            natives[x.size] = own(llama_cpp.llama_sampler_init_mirostat(x.size, 7, tau, eta, 100) if version == 1
                                  else llama_cpp.llama_sampler_init_mirostat_v2(7, tau, eta))
        if i % 10 == 0:
            llama_cpp.llama_sampler_reset(natives[x.size])
            miro.reset()
        mu = miro.mu
        ours, values, _, memo = miro.apply(x, False, x.size)
        out, selected = _apply(natives[x.size], x)
        theirs = out["id"][out["logit"] > -np.inf].astype(np.int64)
        # llama.cpp's update: mu -= eta·(surprise - tau), the surprise of its draw within the kept set.
        expected = np.float32(mu - np.float32(eta) * (-np.log2(out["p"][selected]) - np.float32(tau)))
        if np.array_equal(np.sort(x[ours]), np.sort(x[theirs])):  # the same (v1: ties at the cut may swap)
            miro.accept(values, int(np.flatnonzero(x[ours] == out["logit"][selected])[0]), memo)
            assert abs(miro.mu - expected) <= 1e-5 * max(1.0, abs(expected))
            continue
        moved += 1
        miro.mu = expected  # the sets differ, and so the surprise: follow llama.cpp's mu
        if version == 2:  # float32 sums: only tokens within float32 error of mu may change sides
            assert np.all(np.abs(_surprise(x)[np.setxor1d(ours, theirs)] - mu) <= _surprise_tol(x.size))
        else:  # llama.cpp's float32 estimate of the Zipf exponent may move k by one or two
            assert abs(ours.size - theirs.size) <= 3
            n = min(ours.size, theirs.size)
            np.testing.assert_array_equal(np.sort(x[ours])[::-1][:n], np.sort(x[theirs])[::-1][:n])
    # With tau = 8, v2's cut lies deep in the tail, where many tokens are within float32 error of it.
    assert moved <= len(vectors) // (10 if version == 2 else 20)


def test_mirostat_sampler_draws_from_its_distribution(real_logits):
    # eta = 0: mu stays 2·tau, so every draw comes from the same truncated distribution.
    alone = dict(top_k=0, top_p=1.0, min_p=0.0, mirostat=2, mirostat_tau=3.0)
    fixed = dyntemp.Sampler(1.0, mirostat_eta=0.0, seed=3, **alone)
    x = next(v for v in real_logits if 5 <= np.count_nonzero(fixed.distribution(v)) <= 30)
    p = fixed.distribution(x)
    np.testing.assert_array_equal(np.flatnonzero(p), np.flatnonzero(_surprise(x) <= 6.0))
    counts = np.bincount([fixed.sample(x) for _ in range(3000)], minlength=x.size)
    assert counts[p == 0].sum() == 0
    big = p * 3000 >= 5  # the rest in one bin
    observed = np.append(counts[big], counts[~big].sum())
    expected = np.append(p[big], p[~big].sum()) * 3000
    assert stats.chisquare(observed[expected > 0], expected[expected > 0]).pvalue > 1e-3
    # eta > 0: after a token of surprise s within the kept set, mu -= eta·(s - tau), and the next
    # kept set is every token with surprise <= mu.
    tau, eta = 3.0, 0.5
    moving = dyntemp.Sampler(1.0, mirostat_eta=eta, seed=5, **alone)
    mu, mus = 2 * tau, []
    for x in real_logits[:150]:
        p = moving.distribution(x)
        surprise = _surprise(x)
        within = np.flatnonzero(surprise <= mu) if surprise.min() <= mu else [int(np.argmax(x))]
        differ = np.setxor1d(np.flatnonzero(p), within)
        assert np.all(np.abs(surprise[differ] - mu) <= _surprise_tol(x.size))
        token = moving.sample(x)
        assert p[token] > 0
        mu -= eta * (-np.log2(p[token]) - tau)
        mus.append(mu)
    assert np.ptp(mus) > 2.0  # mu did move


@pytest.mark.parametrize("target, decay", [(0.5, 0.9), (0.2, 0.5), (0.8, 0.99)])
def test_adaptive_p_matches_native(logit_vectors, own, target, decay):
    native = own(llama_cpp.llama_sampler_init_adaptive_p(target, decay, 5))
    ours, worst = AdaptiveP(target, decay), 0.0
    for i, x in enumerate(logit_vectors):
        if i % 10 == 0:
            llama_cpp.llama_sampler_reset(native)
            ours.reset()
        # Only the finite tokens, as an earlier filter would leave them (the Sampler drops -inf ones).
        finite = np.flatnonzero(x > -np.inf)
        _, values, _, memo = ours.apply(x[finite], False, x.size)
        out, selected = _apply(native, x, finite)
        np.testing.assert_array_equal(out["id"], finite)
        # Logits, not p: 5 - 10·d²/(1+d) with d from float32 probabilities, a few float32 ulp apart.
        worst = max(worst, float(np.abs(values - out["logit"]).max()))
        token = int(out["id"][selected])
        llama_cpp.llama_sampler_accept(native, token)  # llama.cpp's EMA learns in accept
        ours.accept(values, int(np.searchsorted(finite, token)), memo)
    assert worst <= 2e-5


def test_adaptive_p_after_min_p_in_a_sampler(logit_vectors, own):
    sampler = dyntemp.Sampler(1.0, top_k=0, top_p=1.0, min_p=0.05, adaptive_target=0.5, adaptive_decay=0.9, seed=2)
    twin = dyntemp.Sampler.from_settings(sampler.settings)  # the same steps on numpy
    native = own(_chain(llama_cpp.llama_sampler_init_min_p(0.05, 1),
                        llama_cpp.llama_sampler_init_adaptive_p(0.5, 0.9, 4)))
    # Those whose min-p set is small enough to redraw from (not the flat synthetic ones): 874 of 1,000.
    vectors = [x for x in logit_vectors if np.count_nonzero(dyntemp.core.min_p(x, 0.05) > -np.inf) <= 256]
    worst, redraws = 0.0, 0
    for i, x in enumerate(vectors):
        if i % 10 == 0:
            llama_cpp.llama_sampler_reset(native)
            sampler.reset()
            twin.reset()
        ours, numpy = on_each_path(sampler.process, x)
        np.testing.assert_array_equal(ours, numpy)
        out, selected = _apply(native, x)
        ids, logits = out["id"][out["logit"] > -np.inf], out["logit"][out["logit"] > -np.inf]
        np.testing.assert_array_equal(np.flatnonzero(ours > -np.inf), np.sort(ids))
        worst = max(worst, float(np.abs(ours[ids] - logits).max()))
        token = sampler.sample(x)
        with kernel.running(False):
            assert twin.sample(x) == token
        # llama.cpp's accept learns only from its own pending draw: redraw on the same candidates, in the
        # same order (the same probabilities), until it draws dyntemp's token: as many draws as candidates on average.
        while out["id"][selected] != token:
            out, selected = _apply(native, x, ids)
            redraws += 1
            assert redraws < 100 * len(vectors)
        llama_cpp.llama_sampler_accept(native, token)
    assert worst <= 2e-5


def test_adaptive_p_off_and_removed_tokens(logit_vectors):
    x = next(v for v in logit_vectors if np.isinf(v).any())
    base = dict(top_k=0, top_p=1.0, min_p=0.05)
    np.testing.assert_array_equal(dyntemp.Sampler(1.0, adaptive_target=-1.0, **base).distribution(x),
                                  dyntemp.Sampler(1.0, **base).distribution(x))
    on = dyntemp.Sampler(1.0, adaptive_target=0.5, top_k=0, top_p=1.0, min_p=0.0).distribution(x)
    assert not np.allclose(on, dyntemp.Sampler(1.0, top_k=0, top_p=1.0, min_p=0.0).distribution(x))
    assert np.all(on[x == -np.inf] == 0)  # a removed token stays removed under the transform


def _webui_quadratic(x, factor, curve):
    """text-generation-webui's QuadraticSamplingLogitsWarper, in float64."""
    max_logit = float(x.max())
    diff = x.astype(np.float64) - max_logit
    k, s = (3 - curve) / 2, (curve - 1) / 2
    return -(k * factor * diff ** 2) + (s * factor * diff ** 3) + max_logit


@pytest.mark.parametrize("curve, expected", [
    (1.0, [4.0, 3.0, 3.9375, -np.inf, 0.0]),  # 4 - 0.25·d²
    (2.0, [4.0, 2.5, 3.953125, -np.inf, -6.0]),  # 4 - 0.125·d² + 0.125·d³
    (3.0, [4.0, 2.0, 3.96875, -np.inf, -12.0]),  # 4 + 0.25·d³
    (0.5, [4.0, 3.25, 3.9296875, -np.inf, 3.0]),  # 4 - 0.3125·d² - 0.0625·d³
])
def test_quadratic_smoothing_by_hand(curve, expected):
    x = np.array([4.0, 2.0, 3.5, -np.inf, 0.0], dtype=np.float32)  # d = 0, -2, -0.5, -inf, -4
    np.testing.assert_array_equal(quadratic_smoothing(x, 0.25, curve), np.array(expected, dtype=np.float32))
    np.testing.assert_array_equal(quadratic_smoothing(np.array([3, 2, 0], dtype=np.float32), 0.5),
                                  np.array([3.0, 2.5, -1.5], dtype=np.float32))
    np.testing.assert_array_equal(quadratic_smoothing(x, 0.0, curve), x)


@pytest.mark.parametrize("factor, curve", [(0.3, 1.0), (1.0, 2.0), (0.1, 3.0), (2.0, 0.5), (0.05, 4.0)])
def test_quadratic_smoothing_is_webui_formula_and_runs_before_temperature(real_logits, factor, curve):
    for x in real_logits[::25]:
        ours = quadratic_smoothing(x, factor, curve)
        np.testing.assert_array_max_ulp(ours, _webui_quadratic(x, factor, curve).astype(np.float32), maxulp=1)
        sampler = dyntemp.Sampler(0.7, top_k=0, top_p=1.0, min_p=0.0, smoothing_factor=factor, smoothing_curve=curve)
        np.testing.assert_array_equal(sampler.process(x), ours / np.float32(0.7))
    off = dyntemp.Sampler(0.7, top_k=0, top_p=1.0, min_p=0.0, smoothing_factor=0.0, smoothing_curve=curve)
    np.testing.assert_array_equal(off.process(x), x / np.float32(0.7))


@settings(max_examples=300, deadline=None)
@given(x=arrays(np.float32, st.integers(1, 200), elements=st.floats(-1e3, 1e3, width=32) | st.just(-np.inf)),
       factor=st.floats(0.0, 10.0), curve=st.floats(1.0, 3.0))
def test_quadratic_smoothing_keeps_order_and_max(x, factor, curve):
    assume(np.any(x > -np.inf))
    y = quadratic_smoothing(x, factor, curve)
    order = np.argsort(x, kind="stable")
    assert np.all(y[order][:-1] <= y[order][1:])  # for curve in [1, 3] the map is monotone
    assert y.max() == x.max() and y[np.argmax(x)] == x.max()
    assert np.all(y[x == -np.inf] == -np.inf)
    np.testing.assert_array_equal(quadratic_smoothing(x, 0.0, curve), x)
