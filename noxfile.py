"""Sessions: tests (both anyio backends and uvloop), lint, typecheck, docs, bench."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole suite; every public-behaviour test runs on trio, asyncio and uvloop."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    paths = [p for p in ("trionet", "tests", "examples", "benchmarks", "docs") if Path(p).is_dir()]
    paths.append("noxfile.py")
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]", "mypy")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    session.install("-e", ".[docs]")
    session.run("sphinx-build", "-W", "-b", "html", "docs", "docs/_build/html")


@nox.session
def bench(session: nox.Session) -> None:
    """Side-by-side benchmark against the shared anchors; writes docs/performance.md."""
    session.install("-e", ".[bench]", "trio", "anyio")
    session.run("python", "benchmarks/compare.py", *session.posargs)
