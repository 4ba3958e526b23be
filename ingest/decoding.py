"""Text payloads to ``str``: the one decoder of every text feed (calls, drone CSV, AVL).

Order: a named encoding (strict); UTF-8 with or without BOM; the encoding detected by
:mod:`charset_normalizer` among UTF-8, GB18030, GBK and Big5 (GBK and GB2312 are read as their
superset GB18030); on a large payload the first 256 kB are asked first, and the whole only when
that guess does not read every byte. Never a silent latin-1 guess.

A payload that is clean text but for a few stray bytes (a 0xA0 pasted into a free-text cell
of a flight log) is not refused: each stray byte becomes U+FFFD, the byte offsets and lines are
kept (:attr:`Decoded.stray_lines`) and the parser flags the records it touches
(``stray_bytes``). Only a handful is tolerated (at most one per kilobyte, at most
:data:`MAX_STRAY`), and for the legacy encodings the payload without them must be detected as
the same encoding, so binary or wrongly encoded files are still refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import charset_normalizer

from ingest.errors import ParseError

__all__ = ["ENCODINGS", "MAX_STRAY", "STRAY_FLAG", "Decoded", "decode_text", "stray_allowed"]

ENCODINGS = ("utf_8", "gb18030", "gbk", "big5")
"""The encodings detection chooses among."""

MAX_STRAY = 64
"""The most stray bytes a payload may hold and still be read."""

STRAY_FLAG = "stray_bytes"
"""Flag on a record (or track) holding a stray byte replaced by U+FFFD."""

_REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class Decoded:
    """A decoded payload: its text, the encoding read and the stray bytes replaced."""

    text: str
    encoding: str
    stray_offsets: tuple[int, ...] = ()
    stray_lines: tuple[int, ...] = ()

    @property
    def stray(self) -> int:
        """Return how many stray bytes were replaced."""
        return len(self.stray_offsets)

    @property
    def flags(self) -> list[str]:
        """Return the payload's flags: ``non_utf8_bytes``, ``encoding:X``, ``stray_bytes``."""
        out = (
            []
            if self.encoding.startswith("utf")
            else ["non_utf8_bytes", f"encoding:{self.encoding}"]
        )
        return [*out, STRAY_FLAG] if self.stray_offsets else out


def stray_allowed(size: int) -> int:
    """Return how many stray bytes a payload of `size` bytes may hold (1 per kB, 1..64)."""
    return max(1, min(MAX_STRAY, size // 1000))


def decode_text(data: bytes, encoding: str | None = None) -> Decoded:
    """Decode a text payload (see the module docstring for the order).

    Parameters
    ----------
    data
        The payload's bytes.
    encoding
        A named encoding (a mapping file's ``encoding``): read strictly, no detection.

    Raises
    ------
    ParseError
        The named encoding does not read the bytes, or no encoding reads them with at most
        :func:`stray_allowed` stray bytes.
    """
    if encoding:
        try:
            return Decoded(data.decode(encoding), encoding)
        except (UnicodeDecodeError, LookupError) as e:
            msg = f"payload is not {encoding}: {e}"
            raise ParseError(msg) from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    else:
        return Decoded(text, "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    guess = _detect(_head(data)) if len(data) > _HEAD else None
    if guess is not None:
        try:
            return Decoded(data.decode(guess), guess)
        except UnicodeDecodeError:
            pass
    guess = _detect(data)
    if guess is not None:
        try:
            return Decoded(data.decode(guess), guess)
        except UnicodeDecodeError:
            pass
    for enc in dict.fromkeys(["utf-8", *([guess] if guess else []), "gb18030", "big5"]):
        found = _with_stray_bytes(data, enc)
        if found is not None:
            return found
    msg = (
        "text encoding cannot be determined (tried UTF-8, GB18030, GBK, Big5; "
        f"more than {stray_allowed(len(data))} undecodable bytes in {len(data)})"
    )
    raise ParseError(msg)


_HEAD = 256 * 1024


def _head(data: bytes) -> bytes:
    """Return the first lines of a large payload (cut at a newline: never inside a character)."""
    cut = data.rfind(b"\n", 0, _HEAD)
    return data[: cut + 1] if cut > 0 else data[:_HEAD]


def _detect(data: bytes) -> str | None:
    best = charset_normalizer.from_bytes(data, cp_isolation=list(ENCODINGS)).best()
    if best is None:
        return None
    enc = str(best.encoding)
    return "gb18030" if enc in ("gbk", "gb2312") else enc.replace("_", "-")


def _with_stray_bytes(data: bytes, enc: str) -> Decoded | None:
    """Read `data` as `enc` with its few undecodable bytes replaced, or None."""
    allowed = stray_allowed(len(data))
    bom = 3 if enc == "utf-8" and data.startswith(b"\xef\xbb\xbf") else 0
    codec = "utf-8-sig" if bom else enc
    if data.decode(codec, errors="replace").count(_REPLACEMENT) > allowed + data.count(
        b"\xef\xbf\xbd"
    ):
        return None
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = bom
    while True:
        try:
            parts.append(data[pos:].decode(enc))
            break
        except UnicodeDecodeError as e:
            parts.append(data[pos : pos + e.start].decode(enc))
            spans.append((pos + e.start, pos + e.end))
            parts.append(_REPLACEMENT)
            pos += e.end
            if len(spans) > allowed:
                return None
    if not spans:
        return None
    if not enc.startswith("utf"):
        clean = b"".join(
            data[a:b]
            for a, b in zip(
                [0, *(e for _, e in spans)], [s for s, _ in spans] + [len(data)], strict=True
            )
        )
        if _detect(clean) != enc:
            return None
    offsets = tuple(s for s, _ in spans)
    lines = tuple(sorted({data.count(b"\n", 0, s) + 1 for s in offsets}))
    return Decoded("".join(parts), enc, offsets, lines)
