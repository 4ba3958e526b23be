"""Escaping of every string that comes from outside before it reaches the map or the page.

Caller notes, drone labels, alert text and place names are data, never markup or code. A
string goes through :func:`escape_text` before it becomes a popup, a tooltip or a GeoJSON
property: HTML special characters become entities, and the characters that matter inside a
JavaScript template literal (backtick, ``$``, backslash) become entities too, so
``<img src=x onerror=...>``, ``${...}``, a backtick or ``</script>`` render as text and run
nothing, whether the browser puts the string into ``innerHTML`` or folium pastes it into a
template literal in the map's script. Braces become entities too: folium/branca pass rendered
scripts through Jinja again, where ``{{ ... }}`` from a caller's note would be evaluated on the
server.

:func:`escape_markdown` does the same job for text shown through Streamlit's Markdown
(``st.markdown``, ``st.caption``, labels), where ``![x](http://host/)`` would otherwise fetch an
image from outside.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

__all__ = ["escape_markdown", "escape_text", "escape_value"]

_JS_LITERAL = str.maketrans(
    {"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"}
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
_LINE_END = re.compile(r"\r\n|[\r\n]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")


def escape_text(value: object, max_len: int = 500) -> str:
    """Return `value` as text that is inert in HTML and in a JavaScript template literal.

    Parameters
    ----------
    value
        Any value; ``None`` and NaN become an empty string.
    max_len
        Longer strings are cut (with an ellipsis) so one hostile record cannot bloat the map.

    Returns
    -------
    str
        HTML-escaped text (quotes included) with backticks, ``$``, braces and backslashes as
        entities and control characters (including U+2028/U+2029, line breaks inside JS) removed.

    Examples
    --------
    >>> escape_text("<img src=x onerror=alert(1)>${alert(2)}`</script>")
    '&lt;img src=x onerror=alert(1)&gt;&#36;&#123;alert(2)&#125;&#96;&lt;/script&gt;'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    if len(text) > max_len:
        text = text[: max_len - 1] + "…"
    text = _CONTROL.sub(" ", text)
    return html.escape(text, quote=True).translate(_JS_LITERAL)


def escape_value(value: Any) -> Any:
    """Escape strings with :func:`escape_text`; pass numbers and booleans through unchanged."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    return escape_text(value)


def escape_markdown(value: object, max_len: int = 500) -> str:
    """Return `value` as Markdown that shows the text literally (no links, images or HTML).

    Every Markdown special character gets a backslash, so ``![x](http://evil/)`` is shown as
    those characters instead of fetching an image.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    if len(text) > max_len:
        text = text[: max_len - 1] + "…"
    # every line ending (CR alone too: CommonMark ends a line there) becomes a space, so the
    # text cannot start a line of its own ("x\r===" would make "x" a heading)
    text = _LINE_END.sub(" ", _CONTROL.sub(" ", text))
    return _MD_SPECIAL.sub(r"\\\1", text)
