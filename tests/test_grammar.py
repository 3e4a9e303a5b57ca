"""Grammars and JSON schemas: only what they allow comes out, at any temperature, every way of generating."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest
from llama_cpp import LlamaGrammar

import dyntemp
from dyntemp.cli import main
from dyntemp.llama import GrammarConstraint

YES_NO = 'root ::= ("yes" | "no")'
SCHEMA = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}, "sure": {"type": "boolean"}},
          "required": ["answer", "sure"]}
QUESTION = [{"role": "user", "content": "Is the sea salty? Answer in JSON."}]


@pytest.mark.parametrize("strategy", ["edt", 2.5, "sentence:temperatures=[3.0]"])
def test_every_output_of_a_small_grammar_is_in_it_at_high_temperature(llm, strategy):
    outputs = set()
    for seed in range(6):
        sampler = dyntemp.Sampler(strategy, grammar=YES_NO, seed=seed, top_k=0, top_p=1.0, min_p=0.0)
        result = sampler.generate(llm, "Is the sea salty?", max_tokens=8)
        assert result.finish_reason == "eos" and result.text in ("yes", "no")
        outputs.add(result.text)
    assert outputs == {"yes", "no"}  # the temperature still decides between what the grammar allows


def test_json_schema_output_parses_and_follows_the_schema(llm):
    for seed in range(5):
        sampler = dyntemp.Sampler("edt:t0=1.5", json_schema=SCHEMA, seed=seed)
        result = sampler.chat(llm, QUESTION, max_tokens=60)
        assert result.finish_reason == "eos", result.text
        value = json.loads(result.text)
        assert value["answer"] in ("yes", "no") and isinstance(value["sure"], bool)


def test_the_grammar_restricts_the_candidates_before_the_strategy_sees_them(llm):
    seen = []

    class Spy(dyntemp.Strategy):
        def temperature(self, step):
            seen.append(step.candidate_ids.copy())
            return 1.0

    dyntemp.Sampler(Spy(), grammar=YES_NO, top_k=0, top_p=1.0, min_p=0.0, seed=1).generate(llm, "Hi", max_tokens=4)
    first = sorted(llm.detokenize([int(t)]).decode() for t in seen[0])
    assert first and all("yes".startswith(p) or "no".startswith(p) for p in first)


def test_a_grammar_through_the_hook_and_one_given_to_create_completion(llm):
    sampler = dyntemp.Sampler(2.0, grammar=LlamaGrammar.from_string(YES_NO, verbose=False), seed=3)
    llm.reset()
    out = llm.create_completion("Is the sea salty?", max_tokens=8, logits_processor=sampler.logits_processor(llm),
                                **sampler.llama_kwargs())
    assert out["choices"][0]["text"] in ("yes", "no")
    # A grammar given to create_completion itself is honoured the same way: no abort, the same text.
    plain = dyntemp.Sampler(2.0, seed=3)
    llm.reset()
    out2 = llm.create_completion("Is the sea salty?", max_tokens=8, logits_processor=plain.logits_processor(llm),
                                 grammar=LlamaGrammar.from_string(YES_NO, verbose=False), **plain.llama_kwargs())
    assert out2["choices"][0]["text"] == out["choices"][0]["text"]
    assert "".join(r.piece for r in plain.trace) == out2["choices"][0]["text"]
    llm.reset()
    chat = llm.create_chat_completion(QUESTION, max_tokens=60, logits_processor=plain.logits_processor(llm),
                                      response_format={"type": "json_object", "schema": SCHEMA},
                                      **plain.llama_kwargs())
    assert json.loads(chat["choices"][0]["message"]["content"])["answer"] in ("yes", "no")


def test_a_grammar_is_data_refused_without_a_model_and_checked(llm):
    sampler = dyntemp.Sampler("edt", grammar=YES_NO)
    assert dyntemp.SamplerSettings.from_dict(json.loads(json.dumps(sampler.settings.to_dict()))) == sampler.settings
    assert pickle.loads(pickle.dumps(sampler)).settings.grammar == YES_NO
    with pytest.raises(ValueError, match="has a grammar, which needs the model's vocabulary"):
        sampler.sample(np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError, match="has a grammar"):
        sampler.logits_processor()
    with pytest.raises(ValueError, match="could not parse it as GBNF"):
        GrammarConstraint(llm, "root ::= (")
    with pytest.raises(ValueError, match="json_schema is not valid JSON"):
        dyntemp.Sampler("edt", json_schema="{not json")
    with pytest.raises(ValueError, match="grammar or json_schema, not both"):
        dyntemp.Sampler("edt", grammar=YES_NO, json_schema=SCHEMA)


def test_the_cli_takes_llama_cpps_grammar_flags(tmp_path):
    def run(*argv):
        out = io.StringIO()
        status = main(["generate", "Is the sea salty?", "--seed", "2", "-n", "40", *argv], out=out)
        return status, out.getvalue().strip()

    assert run("--grammar", YES_NO, "--temp", "2")[1] in ("yes", "no")
    (tmp_path / "g.gbnf").write_text(YES_NO)
    assert run("--grammar-file", str(tmp_path / "g.gbnf"))[1] in ("yes", "no")
    status, text = run("--json-schema", json.dumps(SCHEMA), "--chat")
    assert status == 0 and json.loads(text)["answer"] in ("yes", "no")
    with pytest.raises(SystemExit) as info:
        run("--grammar", YES_NO, "--json-schema", "{}")
    assert info.value.code == 2
