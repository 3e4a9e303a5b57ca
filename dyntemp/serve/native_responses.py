"""llama-server's and KoboldCpp's response objects, from the same events as OpenAI's
(``dyntemp.serve.responses``): what their own clients (SillyTavern's llama.cpp and KoboldCpp types,
KoboldAI Lite) parse.

llama-server's ``/completion``: ``{content, tokens, stop, stop_type, stopping_word, tokens_predicted,
tokens_evaluated, generation_settings, timings, completion_probabilities}``; a stream sends
``data: {content, stop: false}`` events and a last ``stop: true`` one with empty ``content`` (its
text was sent already), and no ``[DONE]``. KoboldCpp's ``/api/v1/generate``: ``{results: [{text,
finish_reason}]}``; its stream sends ``event: message`` with ``data: {token, finish_reason}``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from .engine import End, Piece
from .responses import Response

_STOP_TYPE = {"stop": "eos", "length": "limit"}


class NativeResponse(Response):
    """llama-server's ``/completion`` response."""

    def __init__(self, job) -> None:
        super().__init__(job)
        self.began = time.perf_counter()
        self.ids: list[list[int]] = [[] for _ in self.texts]

    def add(self, event: "Piece | End") -> None:
        super().add(event)
        self.ids[event.index] += [record.token for record in event.records]

    def _result(self, i: int) -> dict:
        seconds = max(time.perf_counter() - self.began, 1e-9)
        predicted = len(self.ids[i])
        prompt = self.prompt_lengths[i // self.job.n] if self.prompt_lengths else 0
        finish = self.finish[i] or "length"
        stopped_by = "word" if finish == "stop" and not self._eos(i) else _STOP_TYPE.get(finish, "limit")
        out = {"index": i, "content": self.texts[i], "tokens": self.ids[i], "id_slot": 0, "stop": True,
               "model": self.job.model, "tokens_predicted": predicted, "tokens_evaluated": prompt,
               "generation_settings": self._settings(), "prompt": "", "has_new_line": "\n" in self.texts[i],
               "truncated": False, "stop_type": stopped_by, "stopping_word": "", "tokens_cached": 0,
               "timings": {"prompt_n": prompt, "predicted_n": predicted, "predicted_ms": seconds * 1000,
                           "predicted_per_token_ms": seconds * 1000 / max(predicted, 1),
                           "predicted_per_second": predicted / seconds}}
        if self.timed_out[i]:
            out["timed_out"] = True
        if self.job.logprobs is not None:
            out["completion_probabilities"] = _probabilities(self.tokens[i], self.ids[i])
        if self.job.return_trace:
            out["trace"] = self.records[i]
        return out

    def _eos(self, i: int) -> bool:
        return self.end_reasons[i] == "eos"

    def _settings(self) -> dict:
        return {**self.job.settings.to_dict(), "n_predict": self.job.max_tokens or -1, "stream": self.job.stream,
                "stop": list(self.job.stop)}

    def whole(self) -> "dict | list":
        results = [self._result(i) for i in range(len(self.texts))]
        return results[0] if len(results) == 1 else results

    def chunks(self, event: "Piece | End") -> list:
        i = event.index
        out = []
        if event.text or isinstance(event, Piece):
            chunk: dict[str, Any] = {"index": i, "content": event.text, "stop": False,
                                     "tokens": [record.token for record in event.records],
                                     "tokens_predicted": len(self.ids[i]),
                                     "tokens_evaluated": self.prompt_lengths[i // self.job.n]}
            if self.job.logprobs is not None:
                chunk["completion_probabilities"] = _probabilities(event.tokens or (),
                                                                   [r.token for r in event.records])
            if self.job.return_trace:
                chunk["trace"] = [r.to_dict() for r in event.records]
            out.append(chunk)
        if isinstance(event, End):  # the text was sent: the last event says why it stopped, with none
            out.append({**self._result(i), "content": "", "tokens": []})
        return out

    def closing(self) -> list:
        return []


def _probabilities(tokens, ids: list[int]) -> list[dict]:
    """Each token's log probability and its alternatives, in llama-server's form and in the older
    one (``content``, ``probs: [{tok_str, prob}]``) that older SillyTavern reads."""
    out = []
    for token, token_id in zip(tokens, ids):
        top = [{"token": text, "bytes": list(data), "logprob": _finite(lp)} for text, data, lp in token.top]
        out.append({"id": token_id, "token": token.text, "bytes": list(token.bytes), "logprob": _finite(token.logprob),
                    "top_logprobs": top, "content": token.text,
                    "probs": [{"tok_str": t["token"], "prob": math.exp(t["logprob"])} for t in top]})
    return out


def _finite(logprob: float) -> float:
    return logprob if math.isfinite(logprob) else -1e30  # JSON has no -inf; llama-server writes the lowest float


class KoboldResponse(Response):
    """KoboldCpp's ``/api/v1/generate`` and ``/api/extra/generate/stream`` response."""

    def whole(self) -> dict:
        return {"results": [{"text": text, "finish_reason": finish or "length",
                             **({"timed_out": True} if timed_out else {})}
                            for text, finish, timed_out in zip(self.texts, self.finish, self.timed_out)]}

    def chunks(self, event: "Piece | End") -> list:
        finish = event.finish_reason if isinstance(event, End) else "null"  # KoboldCpp's string "null"
        return [{"token": event.text, "finish_reason": finish}]

    def closing(self) -> list:
        return []

    @staticmethod
    def frame(data: "dict | str") -> str:
        return f"event: message\ndata: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"
