"""Which packages the wheel holds. Everything else about localhub is declared in pyproject.toml.

The TUI (`tui/`) and the shipped profiles (`profiles/`) sit at the top of the repository but are installed
under names that cannot collide with other projects (`localhub_tui`, `localhub_profiles`). setuptools'
`packages.find` cannot rename what it finds, so each tree's sub-packages are found here and given their
installed names: a new sub-package is never missed, as a hand-kept list once missed some.
"""

from setuptools import find_packages, setup

TREES = {"localhub": "localhub", "localhub_tui": "tui", "localhub_profiles": "profiles"}


def packages(name: str, directory: str) -> list[str]:
    return [name] + [f"{name}.{found}" for found in find_packages(directory)]


setup(
    packages=[package for name, directory in TREES.items() for package in packages(name, directory)],
    package_dir=TREES,
)
