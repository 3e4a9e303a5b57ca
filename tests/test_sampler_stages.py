"""DRY, smoothing, mirostat and adaptive-p inside the Sampler: state, settings, and generation on
the default model (their agreement with llama.cpp is in test_native_samplers.py)."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

import dyntemp
from dyntemp.llama import dry_breakers

OFF = dict(top_k=0, top_p=1.0, min_p=0.0)
STAGES = {
    "dry": dict(dry_multiplier=0.8, dry_allowed_length=2),
    "smoothing": dict(smoothing_factor=0.4, smoothing_curve=1.5),
    "mirostat v1": dict(mirostat=1, mirostat_tau=4.0, **OFF),
    "mirostat v2": dict(mirostat=2, mirostat_tau=4.0, mirostat_eta=0.2, **OFF),
    "adaptive-p": dict(adaptive_target=0.4, adaptive_decay=0.9, top_k=0, top_p=1.0, min_p=0.05),
}
PROMPT = "Write a list of five animals and one fact about each:\n1."


def _history_repeating(n: int = 60) -> list[int]:
    rng = np.random.default_rng(2)
    chunk = rng.integers(100, 2000, size=12).tolist()
    return rng.integers(100, 2000, size=20).tolist() + chunk + rng.integers(100, 2000, size=8).tolist() + chunk[:-3]


@pytest.mark.parametrize("name", list(STAGES))
def test_generate_and_the_hook_draw_the_same_tokens(llm, name):
    settings = dyntemp.SamplerSettings("edt", seed=5, **STAGES[name])
    result = dyntemp.Sampler.from_settings(settings).generate(llm, PROMPT, max_tokens=24)
    hooked = dyntemp.Sampler.from_settings(settings)
    llm.reset()
    out = llm.create_completion(PROMPT, max_tokens=24, logits_processor=hooked.logits_processor(llm),
                                **hooked.llama_kwargs())
    assert out["choices"][0]["text"] == result.text
    assert [r.token for r in hooked.trace] == result.tokens
    assert len(result.tokens) >= 8


def test_each_stage_changes_what_is_drawn(llm):
    """On the model, every stage changes the tokens of a seeded generation (a stage that did nothing would not)."""
    def tokens(**settings):  # a prompt that repeats itself, so that DRY has something to act on
        return dyntemp.Sampler(1.0, seed=11, top_k=0, top_p=1.0, min_p=0.0, **settings).generate(
            llm, "the cat sat on the mat. the cat sat on the mat. the cat", max_tokens=40).tokens

    plain = tokens()
    for name, settings in STAGES.items():
        changed = {k: v for k, v in settings.items() if k not in OFF}
        assert tokens(**changed) != plain, name


def test_dry_stops_a_greedy_loop(llm):
    prompt = "Repeat this forever: the cat sat on the mat. the cat sat on the mat. the cat sat on the mat."
    def repeats(**settings):
        tokens = dyntemp.Sampler(0.0, **settings).generate(llm, prompt, max_tokens=60).tokens
        grams = [tuple(tokens[i:i + 4]) for i in range(len(tokens) - 3)]
        return len(grams) - len(set(grams))

    assert repeats() > 20  # greedy decoding loops on this prompt
    assert repeats(dry_multiplier=2.0, dry_allowed_length=2) < repeats() // 2


def test_dry_needs_the_vocabulary_for_text_breakers(llm):
    x = np.zeros(llm.n_vocab(), dtype=np.float32)
    history = _history_repeating()
    sampler = dyntemp.Sampler(1.0, dry_multiplier=0.8, **OFF)
    with pytest.raises(ValueError, match=r"DRY's sequence breakers \['\\n', ':', '\"', '\*'\] are text"):
        sampler.sample(x, history)
    sampler.use_dry_breakers(dry_breakers(llm, sampler.settings.dry_sequence_breakers))
    processed = sampler.process(x, history)
    expected = dyntemp.core.dry(x, history, 0.8, breakers=dry_breakers(llm, ["\n", ":", "\"", "*"]))
    np.testing.assert_array_equal(processed, expected)
    assert np.count_nonzero(processed) > 0
    # Without breakers nothing needs the model.
    bare = dyntemp.Sampler(1.0, dry_multiplier=0.8, dry_sequence_breakers=[], **OFF)
    np.testing.assert_array_equal(bare.process(x, history), dyntemp.core.dry(x, history, 0.8))


def test_a_breaker_inside_the_repeat_limits_it():
    history = [1, 2, 3, 4, 5, 1, 2, 3, 4]
    x = np.zeros(10, dtype=np.float32)
    free = dyntemp.core.dry(x, history, 1.0, base=2.0, allowed_length=1)
    assert free[5] == -np.float32(2.0 ** 3)  # "1 2 3 4" would repeat as "1 2 3 4 5": 4 - 1 = 3
    broken = dyntemp.core.dry(x, history, 1.0, base=2.0, allowed_length=1, breakers=[[2]])
    assert broken[5] == -np.float32(2.0 ** 1)  # the breaker 2 cuts the look-back to "3 4"
    assert broken[2] == 0  # a single-token breaker is never penalized


def test_mirostat_state_moves_resets_and_pickles():
    rng = np.random.default_rng(4)
    vectors = [rng.normal(0, 3, 500).astype(np.float32) for _ in range(12)]
    sampler = dyntemp.Sampler(1.0, mirostat=2, mirostat_tau=3.0, mirostat_eta=0.5, seed=3, **OFF)
    mirostat = sampler._pipeline.picking.selector
    assert mirostat.mu == np.float32(6.0)
    first = [sampler.sample(x) for x in vectors[:5]]
    p = sampler.distribution(vectors[5])  # what the sixth draw picks from; no state changes
    first.append(sampler.sample(vectors[5]))
    assert 0 < np.count_nonzero(p) < p.size  # mirostat cut the tail
    assert sampler.trace[-1].probability == pytest.approx(p[first[-1]], rel=1e-6)
    assert mirostat.mu != np.float32(6.0)
    copy = pickle.loads(pickle.dumps(sampler))
    assert [sampler.sample(x) for x in vectors[6:]] == [copy.sample(x) for x in vectors[6:]]
    sampler.reset()
    assert sampler._pipeline.picking.selector.mu == np.float32(6.0)
    assert [sampler.sample(x) for x in vectors[:6]] == first


def test_mirostat_v2_mu_update_follows_the_surprise():
    x = np.log(np.array([0.5, 0.25, 0.125, 0.0625, 0.0625], dtype=np.float32))
    sampler = dyntemp.Sampler(1.0, mirostat=2, mirostat_tau=2.0, mirostat_eta=0.5, seed=1, **OFF)
    p = sampler.distribution(x)  # mu = 4: surprises 1, 2, 3, 4, 4 all kept
    np.testing.assert_allclose(p, [0.5, 0.25, 0.125, 0.0625, 0.0625], rtol=1e-6)
    token = sampler.sample(x)
    surprise = -np.log2(p[token])
    assert sampler._pipeline.picking.selector.mu == pytest.approx(4.0 - 0.5 * (surprise - 2.0), abs=1e-5)


def test_distribution_shows_what_the_picking_stage_draws_from():
    x = np.log(np.array([0.6, 0.3, 0.05, 0.05], dtype=np.float32))
    v2 = dyntemp.Sampler(1.0, mirostat=2, mirostat_tau=1.0, **OFF)  # mu = 2: surprises 0.74, 1.74 stay, 4.3 not
    np.testing.assert_allclose(v2.distribution(x), [2 / 3, 1 / 3, 0, 0], rtol=1e-6)
    adaptive = dyntemp.Sampler(1.0, adaptive_target=0.2, **OFF)
    p = adaptive.distribution(x)
    assert p.argmax() == 1 and p.sum() == pytest.approx(1.0)  # the token nearest 0.2 is favoured


def test_the_new_settings_round_trip_as_json_and_pickle():
    settings = dyntemp.SamplerSettings(
        "edt", dry_multiplier=0.8, dry_base=1.5, dry_allowed_length=3, dry_penalty_last_n=128,
        dry_sequence_breakers=["\n", "###"], smoothing_factor=0.3, smoothing_curve=2.0,
        adaptive_target=0.5, adaptive_decay=0.95, top_k=0, top_p=1.0)
    data = json.loads(json.dumps(settings.to_dict()))
    assert data["dry_sequence_breakers"] == ["\n", "###"]
    assert dyntemp.SamplerSettings.from_dict(data) == settings
    assert pickle.loads(pickle.dumps(settings)) == settings


def test_mirostat_warns_when_truncating_filters_run_before_it():
    # The settings say it as data; the Sampler a user makes warns with it, once, from the user's line.
    note = dyntemp.SamplerSettings(1.0, mirostat=2).mirostat_note()
    assert note.startswith("top_k=40, top_p=0.95, min_p=0.05 run before mirostat")
    with pytest.warns(UserWarning, match=r"top_k=40, top_p=0.95, min_p=0.05 run before mirostat") as caught:
        dyntemp.Sampler(1.0, mirostat=2)
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dyntemp.Sampler(1.0, mirostat=2, **OFF)
        dyntemp.Sampler(1.0, adaptive_target=0.3)  # llama.cpp recommends min-p before adaptive-p
        dyntemp.Sampler.from_settings(dyntemp.SamplerSettings(1.0, mirostat=2))  # settings made elsewhere: no repeat
    assert dyntemp.SamplerSettings(1.0, mirostat=2, **OFF).mirostat_note() is None


def test_stages_off_cost_nothing_in_the_plan():
    plain = dyntemp.SamplerSettings(1.0)
    assert list(plain.stages()) == ["top_k", "top_p", "min_p", "temperature"]
    on = dyntemp.SamplerSettings(1.0, dry_multiplier=0.5, smoothing_factor=0.2, adaptive_target=0.4)
    assert list(on.stages()) == ["dry", "top_k", "top_p", "min_p", "smoothing", "temperature",
                                                  "adaptive_p"]
