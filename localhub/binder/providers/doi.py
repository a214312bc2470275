"""DOIs as people write them: `10.x/y`, `doi:10.x/y`, `https://doi.org/10.x/y`, reduced to the bare `10.x/y`."""

from __future__ import annotations

import re

from ..quoting import decode

_DOI = re.compile(r"10\.\d{4,9}/\S+")
_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi.org/", "doi:")


def doi_of(text: str) -> str | None:
    """The bare DOI in `text`, or None when `text` is not a DOI or DOI link."""
    text = text.strip()
    for prefix in _PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    text = decode(text.split("?", 1)[0].split("#", 1)[0]).rstrip("/")
    return text if _DOI.fullmatch(text) else None


def is_doi(text: str) -> bool:
    return _DOI.fullmatch(text) is not None
