"""Text tracking: UTF-8 across tokens, sentence boundaries, positions, lines and code fences."""

from __future__ import annotations

import pytest

from dyntemp.core import TextTracker


def tracker_for(pieces: list[bytes]) -> tuple[TextTracker, list[int]]:
    """A tracker whose token i decodes to ``pieces[i]``, and the token ids in order."""
    return TextTracker(lambda ids: pieces[ids[0]]), list(range(len(pieces)))


def feed_all(pieces: list[str]) -> list[tuple[int, int]]:
    """(sentence index, position) of each token, as the sampler sees them before drawing it."""
    t, ids = tracker_for([p.encode() for p in pieces])
    seen = []
    for token in ids:
        seen.append((t.sentence_index, t.sentence_position))
        t.feed(token)
    return seen


def sentences_of(text: str) -> int:
    t, ids = tracker_for([c.encode() for c in text])
    for token in ids:
        t.feed(token)
    return t.sentence_index


def test_tokens_are_assigned_to_sentences_with_positions():
    pieces = ["The", " sea", " is", " calm", ".", " Waves", " rise", "!", " Why", "?"]
    assert feed_all(pieces) == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1)]


def test_a_token_that_starts_the_next_sentence_counts_as_its_first():
    assert feed_all(["Done", ". The", " end"]) == [(0, 0), (0, 1), (1, 1)]


def test_whitespace_before_the_first_word_keeps_position_zero():
    assert feed_all(["Done", ".", "\n", "\n", "Next"])[-1] == (1, 0)


@pytest.mark.parametrize("text, count", [
    ("One. Two. Three", 2),
    ("See e.g. this and Dr. Smith here", 0),
    ("The U.S. team won", 0),
    ("Pi is 3.14 and e is 2.71", 0),
    ("It was 1990. Then it ended", 1),
    ("He said \"Stop.\" Then left", 1),
    ("Wait... what", 1),
    ("Really?! Yes", 1),
    ("first paragraph\n\nsecond", 1),
    ("one\n\n\n\n\ntwo", 1),
    ("你好。我是模型！真的？", 3),
    ("Plan A. Then B", 1),
    ("End.", 1),
    ("List:\n1. Apples\n2. Pears\n3. Plums", 0),
    ("Steps:\n  10. Mix well. Then bake", 1),
    ("Mr. Smith paid approx. ten", 0),
    ("Results are in Fig. 3 and Eq. 2 here", 0),
])
def test_sentence_boundaries(text, count):
    assert sentences_of(text) == count


def test_a_period_after_a_digit_waits_for_whitespace():
    t, ids = tracker_for([b"in 1990", b".", b" Then"])
    t.feed(0)
    t.feed(1)
    assert t.sentence_index == 0
    t.feed(2)
    assert t.sentence_index == 1 and t.sentence == "Then"


def test_a_period_inside_a_token_is_not_an_end():
    t, ids = tracker_for([b"Visit", b" example", b".com", b" today"])
    for token in ids:
        t.feed(token)
    assert t.sentence_index == 0


def test_boundaries_are_never_taken_back():
    t, ids = tracker_for([b"Hello", b".", b"com"])
    for token in ids:
        t.feed(token)
    assert t.sentence_index == 1


def test_utf8_split_across_tokens():
    encoded = "café 😀".encode()
    pieces = [encoded[:4], encoded[4:5], encoded[5:7], encoded[7:9], encoded[9:]]
    t, ids = tracker_for(pieces)
    out = [t.feed(token) for token in ids]
    assert "".join(out) == "café 😀"
    assert out[1] == "é" and out[2] == " " and out[3] == "" and out[4] == "😀"


def test_invalid_bytes_become_replacement_characters():
    t, _ = tracker_for([b"ok\xff"])
    assert t.feed(0) == "ok\ufffd"


def test_lines_and_code_fences():
    t, ids = tracker_for([b"Intro.\n", b"```python\n", b"x = 1\n", b"    ", b"y", b"\n```\n", b"After"])
    states = []
    for token in ids:
        states.append((t.in_code_block, t.at_line_start))
        t.feed(token)
    assert states == [(False, True), (False, True), (True, True), (True, True), (True, True), (True, False),
                      (False, True)]
    assert t.line == "After" and not t.in_code_block


def test_reset_forgets_everything():
    t, ids = tracker_for([b"One. ", b"```\n"])
    for token in ids:
        t.feed(token)
    t.reset()
    assert (t.text, t.sentence_index, t.sentence_position, t.in_code_block) == ("", 0, 0, False)


def test_without_a_detokenizer_only_positions_advance():
    t = TextTracker(None)
    assert t.feed(5) == "" and t.text == "" and t.sentence_index == 0


def test_a_detokenizer_must_return_bytes():
    t = TextTracker(lambda ids: "text")
    with pytest.raises(TypeError, match="detokenizer returned str for token 3; it must return bytes"):
        t.feed(3)
    assert t.text == ""
