"""JupyterHub as the daemon runs it: `python -m localhub.hub.run -f jupyterhub_config.py` is `jupyterhub -f …`
without the imports that lean.py leaves out."""

from localhub.lean import skip_unused


def main() -> None:
    skip_unused()
    from jupyterhub.app import main as jupyterhub  # after skip_unused, by design

    jupyterhub()


if __name__ == "__main__":
    main()
