"""The decode check, run in a child process by ``dyntemp.host.decode_check``: import llama.cpp, load
a model and decode a few greedy tokens, saying each stage it finishes as a JSON line, so that a
crash of llama.cpp (a build for another CPU, AMX the hypervisor does not enable) ends this process,
not the one that asked.

    python -m dyntemp.llama.decode_check [MODEL] [TOKENS] [THREADS]
"""

from __future__ import annotations

import json
import sys
import time

PROMPT = b"The capital of France is"


def say(**fields) -> None:
    print(json.dumps(fields), flush=True)


def main(argv: list[str]) -> None:
    model, tokens, threads = (argv + ["", "8", "1"][len(argv):])[:3]
    import llama_cpp

    say(stage="import", llama_cpp_version=llama_cpp.__version__,
        system_info=llama_cpp.llama_print_system_info().decode("utf-8", "replace"),
        gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()))
    import numpy as np

    from .model import load_model

    llm = load_model(model or None, n_ctx=128, n_threads=int(threads))
    say(stage="load")
    start = time.perf_counter()
    llm.eval(llm.tokenize(PROMPT))
    out = []
    for _ in range(int(tokens)):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
        token = int(logits.argmax())
        out.append(token)
        llm.eval([token])
    seconds = time.perf_counter() - start
    say(stage="decode", tokens=len(out), tokens_per_second=len(out) / seconds,
        text=llm.detokenize(out).decode("utf-8", "replace"))


if __name__ == "__main__":
    main(sys.argv[1:])
