"""Secrets never reach a log. Tornado (in the daemon, in JupyterHub and in the proxy) logs a refused request
with its whole URL, and a URL may carry a credential (`?token=…`, an OAuth `code`); JupyterHub scrubs its own
access log but not tornado's warnings, and the proxy scrubs nothing. `hide_secrets()` makes every log record of
the process it runs in carry `[secret]` instead."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

# A URL parameter: its separator, its key and its value. ';' separates too (older servers and some logs use it),
# and a URL inside a parameter (`next=%2Fuser%2Fu%2Flab%3Ftoken%3D…`) has its separators percent-encoded; a
# value ends at any of them, so that the parameters of a URL inside a value are looked at too.
_SEP = r"[?&;]|%3[fF]|%26|%3[bB]"
_END = r"%26|%3[bB]|%3[dD]|%3[fF]"
_PARAM = re.compile(rf"({_SEP})((?:(?!{_END})[^=?&;#\s\"']){{1,100}})(=|%3[dD])((?:(?!{_SEP})[^#\s\"'])*)")
_CREDENTIALS = {"token", "access_token", "api_key", "code", "_xsrf"}


def _is_credential(key: str) -> bool:
    # compared as the server reads it: percent-decoded (`%74oken` is `token`; twice, for a log of a log), any case
    return unquote(unquote(key)).strip().lower() in _CREDENTIALS


def redact(text: str) -> str:
    """`text` with the value of every credential-like URL parameter replaced by [secret]."""
    if "=" not in text and "%3d" not in text.lower():
        return text
    return _PARAM.sub(_hide, text)


def _hide(param: re.Match) -> str:
    separator, key, equals, value = param.groups()
    return f"{separator}{key}{equals}{'[secret]' if _is_credential(key) else value}"


def hide_secrets() -> None:
    """Redact every log record this process makes from now on (installed once per process)."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts", False):
        return

    def redacting(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return record

    redacting.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)
