"""Secrets never reach a log. Tornado (in the daemon, in JupyterHub and in the proxy) logs a refused request
with its whole URL, and a URL may carry a credential (`?token=…`, an OAuth `code`); JupyterHub scrubs its own
access log but not tornado's warnings, and the proxy scrubs nothing. `hide_secrets()` makes every log record of
the process it runs in carry `[secret]` instead."""

from __future__ import annotations

import logging
import re

_CREDENTIAL = re.compile(r"(?i)([?&;](?:token|access_token|api_key|code|_xsrf)=)[^&;#\s\"']*")


def redact(text: str) -> str:
    """`text` with the value of every credential-like URL parameter replaced by [secret]."""
    return _CREDENTIAL.sub(r"\1[secret]", text) if "=" in text else text


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
