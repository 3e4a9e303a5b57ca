"""llama.cpp's command-line syntax where ``dyntemp`` takes the same flags: escapes in typed text
(``string_process_escapes``) and ``--logit-bias TOKEN(+|-)BIAS``."""

from __future__ import annotations

import argparse
import math
import re

_SIMPLE = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("'"): b"'", ord('"'): b'"', ord("\\"): b"\\"}
_HEX = frozenset(b"0123456789abcdefABCDEF")
_BIAS = re.compile(r"\s*(\d+)\s*([+-])\s*(\S+)\s*")


def unescape(text: str, flag: str = "text") -> str:
    r"""``text`` with llama.cpp's escapes replaced: ``\n``, ``\r``, ``\t``, ``\'``, ``\"``, ``\\``
    and ``\xHH`` (a byte; several make a UTF-8 character). Any other backslash stays as it is, as in
    llama.cpp. A ``ValueError`` when ``\x`` bytes do not make UTF-8.

    >>> unescape(r"one\ntwo\tthree \\n \q \x41\xc3\xa9")
    'one\ntwo\tthree \\n \\q Aé'
    >>> unescape("\\")
    '\\'
    """
    data, out, i = text.encode("utf-8"), bytearray(), 0
    while i < len(data):
        byte = data[i]
        if byte == ord("\\") and i + 1 < len(data):
            code = data[i + 1]
            if code in _SIMPLE:
                out += _SIMPLE[code]
                i += 2
                continue
            if code == ord("x") and i + 3 < len(data) and data[i + 2] in _HEX and data[i + 3] in _HEX:
                out.append(int(data[i + 2:i + 4], 16))
                i += 4
                continue
            out += data[i:i + 2]
            i += 2
            continue
        out.append(byte)
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{flag}: its \\x escapes do not make UTF-8 text (byte {exc.start}); "
                         f"give --no-escape to take the text as it is") from None


def logit_bias(text: str) -> tuple[int, float]:
    """One ``--logit-bias`` value, llama.cpp's ``TOKEN(+|-)BIAS``: ``15043+1`` raises token 15043
    by 1, ``15043-1`` lowers it, ``15043-inf`` bans it. An ``argparse`` type.

    >>> logit_bias("15043+1"), logit_bias("15043-0.5"), logit_bias("15043-inf")
    ((15043, 1.0), (15043, -0.5), (15043, -inf))
    >>> logit_bias("hello+1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected TOKEN_ID+BIAS or TOKEN_ID-BIAS (15043+1, 15043-inf), got 'hello+1'
    """
    match = _BIAS.fullmatch(text)
    try:
        value = float(match.group(3)) if match else math.nan
    except ValueError:
        value = math.nan
    if not match or math.isnan(value):
        raise argparse.ArgumentTypeError(f"expected TOKEN_ID+BIAS or TOKEN_ID-BIAS (15043+1, 15043-inf), got {text!r}")
    bias = -value if match.group(2) == "-" else value
    if bias == math.inf:
        raise argparse.ArgumentTypeError(f"{text!r}: a bias of +inf is not a number to add; -inf bans a token")
    return int(match.group(1)), bias


def merge_biases(pairs: list[tuple[int, float]]) -> dict[int, float]:
    """Biases for the same token add up, as llama.cpp applies each one given.

    >>> merge_biases([(5, 1.0), (5, 0.5), (7, -math.inf), (7, 2.0)])
    {5: 1.5, 7: -inf}
    """
    out: dict[int, float] = {}
    for token, bias in pairs:
        out[token] = out.get(token, 0.0) + bias
    return out
