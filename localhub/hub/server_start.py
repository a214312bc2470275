# jupyterhub-singleuser, started by localhub: the same server, without what its start never uses
"""What a server's container runs: JupyterHub's own single-user server (`jupyterhub.singleuser.main`, its
code untouched), with a start that skips work the server never needs. server_command.py sends this file's
code (without its docstrings) as `python3 -c`; it runs in the image's Python, so it sticks to the standard
library and to syntax any Python 3.7 reads. A python3 without JupyterHub runs `jupyterhub-singleuser` as before.

What the start leaves out (figures: localhub/singleuser, CPU seconds of a ~1.4 s start):

- `rfc3987_syntax` is marked absent. jsonschema (every Jupyter Server imports it through jupyter_events)
  builds an IRI parser when it finds that package, for `iri` format checks the server never makes (1.1-1.9 s
  wall on a busy machine). Absent, jsonschema leaves that one checker out, as where it is not installed.
- JupyterHub's database layer (`jupyterhub.orm`: SQLAlchemy's ORM and alembic, ~0.2-0.3 s) is imported on
  first use instead of at once. The server imports it only because its request log (`jupyterhub.log`) and
  scope helpers import hub modules that import it; the single-user server never reads a database. A stand-in
  module takes its place and imports the real one the first time any of its names is read, so whatever does
  use it gets the real thing (one line on stderr says so).
- `jupyterhub.log` imports the hub's page handlers (and through them the ORM, users, spawners) for one
  name: `HealthCheckHandler`, the hub's own `/hub/health` page, in an `isinstance` test that lowers its
  successful requests to debug level. No handler of a single-user server is one, so a class nothing is an
  instance of stands in for it while `jupyterhub.log` is imported, and only then: the hub's real handlers
  stay importable. If a JupyterHub's `jupyterhub.log` wants more from there, it is imported as usual.
- Python's cyclic garbage collector is off while the server imports and sets up (~240,000 objects made, a
  few thousand of them garbage: collecting as it goes cost ~15% of the start). It is back on once the
  server's event loop runs, or GC_BACK_AFTER seconds after the start at the latest; what exists by then is
  frozen (`gc.freeze`): mostly modules, classes and functions as long-lived as the server, which later
  collections need not walk again (the ~2,500 garbage objects among them, ~0.5 MiB, are kept).

Kernels are processes of their own: none of this reaches them.
"""

import gc
import os
import sys
import threading
import types

ENTRY = "jupyterhub-singleuser"
NEVER_IMPORTED = ("rfc3987_syntax",)
ON_FIRST_USE = ("jupyterhub.orm",)
GC_BACK_AFTER = 60.0


def import_on_first_use(name):
    """Put a stand-in for module `name` in sys.modules that imports the real module the first time one of
    its names is read, then answers with the real module's. Dunder names (`__file__`, `__path__`…, read by
    tools that walk sys.modules) do not count as a use."""
    stand_in, lock, real = types.ModuleType(name), threading.Lock(), []

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        with lock:
            if not real:
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]
                sys.stderr.write("localhub: %s imported on first use (%s)\n" % (name, attr))
                real.append(__import__(name, fromlist=["_"]))
        return getattr(real[0], attr)

    stand_in.__getattr__ = __getattr__
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, stand_in)  # `import a.b` then `a.b.x` reads it from the parent


def import_log_without_hub_pages():
    """Import jupyterhub.log with a stand-in for the one name it takes from the hub's page handlers."""
    pages = types.ModuleType("jupyterhub.handlers.pages")
    pages.HealthCheckHandler = type("HealthCheckHandler", (), {"__doc__": "the hub's page: never a server's"})
    sys.modules[pages.__name__] = pages
    try:
        import jupyterhub.log  # noqa: F401
    except Exception:  # noqa: BLE001 - this JupyterHub's log wants more: the plain import below decides
        pass
    finally:
        if sys.modules.get(pages.__name__) is pages:
            del sys.modules[pages.__name__]


def leave_out_unused():
    """Mark, stand in and import ahead what the sections above describe. ImportError: no JupyterHub."""
    for name in NEVER_IMPORTED:
        sys.modules.setdefault(name, None)
    import jupyterhub  # noqa: F401 - ImportError here: not this Python's business

    if sys.version_info >= (3, 7):  # a module's __getattr__ (PEP 562)
        for name in ON_FIRST_USE:
            import_on_first_use(name)
        import_log_without_hub_pages()


def lean_main():
    """JupyterHub's single-user `main`, imported without what the server never uses. ImportError: no
    JupyterHub (or no Jupyter Server) in this Python."""
    leave_out_unused()
    from jupyterhub.singleuser import main

    return main


def collect_garbage_once_running():
    """Turn the garbage collector back on (freezing what exists) once this thread's event loop runs, which
    Jupyter Server takes as its own, or after GC_BACK_AFTER seconds, whichever comes first."""
    import asyncio

    def back_on():
        if not gc.isenabled():
            if hasattr(gc, "freeze"):
                gc.freeze()
            gc.enable()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.call_soon(back_on)
    timer = threading.Timer(GC_BACK_AFTER, back_on)
    timer.daemon = True
    timer.start()


def run():
    gc.disable()  # first of all: the imports below are most of the start
    try:
        main = lean_main()
    except ImportError:
        gc.enable()
        os.execvp(ENTRY, [ENTRY] + sys.argv[1:])
    collect_garbage_once_running()
    sys.argv[0] = ENTRY
    sys.exit(main())


if __name__ == "__main__":
    run()
