"""The ``artver`` command line: parse arguments, call one core function, print the result.

Nothing here decides anything about artifacts; it only renders what the core
returns. Errors travel as exceptions to error_handler.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from artver import __version__, error_handler
from artver.console import Output, relative_to_cwd
from artver.fsutil import human_size
from artver.hashing import short

app = typer.Typer(
    name="artver",
    help="Version large artifacts (models, datasets, checkpoints) in lockstep with Git commits.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

PathsArg = Annotated[Optional[list[str]], typer.Argument(help="Artifacts (or their .art pointers, or folders containing them); default: all.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON (see docs/json.md).")]


def _version(value: bool) -> None:
    if value:
        print(f"artver {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only errors.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Print more detail (and tracebacks of internal errors).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = Output(quiet=quiet, verbose=verbose)


def _out(ctx: typer.Context) -> Output:
    return ctx.obj if isinstance(ctx.obj, Output) else Output()


def _repo():  # type: ignore[no-untyped-def]
    from artver.repo import open_repo

    return open_repo(Path.cwd())


@app.command()
def init(
    ctx: typer.Context,
    hash_algorithm: Annotated[Optional[str], typer.Option("--hash", help="Hash algorithm for the whole repository: xxh128 (default, fastest) or sha256 (cryptographic).", show_default=False)] = None,
) -> None:
    """Set up artver in the current Git repository (creates .artver/)."""
    from artver.commands.init import init as run_init

    out = _out(ctx)
    result = run_init(Path.cwd(), hash_algorithm)
    if result.created:
        out.say(f"Initialised artver in {result.root} (hash: {result.algorithm}).")
        out.say(f"Commit its config:  git add {relative_to_cwd(result.root, '.artver')}")
    else:
        out.say(f"artver is already initialised in {result.root} (hash: {result.algorithm}); nothing changed.")


@app.command()
def add(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files and folders to track.", show_default=False)],
    desc: Annotated[Optional[str], typer.Option("--desc", help="A description stored in the pointer.", show_default=False)] = None,
    meta: Annotated[Optional[list[str]], typer.Option("--meta", help="KEY=VALUE metadata stored in the pointer (repeatable).", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """Store files or folders in the cache and write their .art pointer files."""
    from artver.commands.add import add as run_add, parse_meta

    out = _out(ctx)
    repo = _repo()
    results = run_add(repo, paths, desc, parse_meta(meta or ()), out.progress())
    if json_output:
        out.json(results)
        return
    to_stage: list[str] = []
    for result in results:
        what = f"{result.files} files, " if result.kind == "dir" else ""
        verb = "added" if result.changed else "unchanged"
        out.say(f"{verb:9} {result.path} ({what}{human_size(result.size)}, {short(result.hash)})")
        if result.changed:
            to_stage.append(result.pointer_path)
        if result.gitignore:
            to_stage.append(result.gitignore)
    if to_stage:
        staged = " ".join(_quote(relative_to_cwd(repo.root, path)) for path in dict.fromkeys(to_stage))
        out.say(f"To record this in Git:  git add {staged}")


def _quote(path: str) -> str:
    import shlex

    return shlex.quote(path)


@app.command()
def status(
    ctx: typer.Context,
    paths: PathsArg = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if anything is not clean (for hooks and CI).")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Show which artifacts differ from their pointer files."""
    from artver.commands.status import CLEAN, status as run_status

    out = _out(ctx)
    results = run_status(_repo(), paths, out.progress())
    dirty = [result for result in results if result.state != CLEAN]
    if json_output:
        out.json(results)
    elif not results:
        out.say("No artifacts are tracked here yet; start with 'artver add PATH'.")
    elif not dirty:
        out.say(f"All {len(results)} artifact{'s' if len(results) != 1 else ''} clean: the workspace matches the pointers.")
    else:
        for result in dirty:
            detail = f" ({result.detail})" if result.detail else ""
            counts = ""
            if result.added or result.modified or result.deleted:
                counts = f" ({len(result.added)} added, {len(result.modified)} modified, {len(result.deleted)} deleted)"
            out.say(f"{result.state:13} {result.path}{counts}{detail}")
            for label, items in (("added", result.added), ("modified", result.modified), ("deleted", result.deleted)):
                for item in items:
                    out.say(f"    {label + ':':10} {item}")
        hints = {
            "modified": "'artver add PATH' records the change, 'artver checkout PATH' (with --force) discards it",
            "missing": "'artver checkout' (or 'artver pull') restores the data",
            "not-in-cache": "the data is only in the workspace: 'artver add PATH' saves it again",
        }
        for state in dict.fromkeys(result.state for result in dirty):
            out.detail(f"hint: {state}: {hints[state]}")
    if check and dirty:
        raise typer.Exit(1)


@app.command()
def checkout(
    ctx: typer.Context,
    paths: PathsArg = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite or delete workspace data even if it is saved nowhere.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Make the workspace match the pointer files (e.g. after 'git checkout')."""
    from artver.commands.checkout import checkout as run_checkout

    out = _out(ctx)
    result = run_checkout(_repo(), paths, force, out.progress())
    if json_output:
        out.json({**_asdict(result), "ok": result.ok})
    else:
        _report_checkout(out, result)
    if not result.ok:
        raise typer.Exit(1)


def _asdict(value: object) -> dict:
    from artver.console import to_jsonable

    return to_jsonable(value)


def _report_checkout(out: Output, result) -> None:  # type: ignore[no-untyped-def]
    if result.updated or result.removed:
        removed = f", removed {len(result.removed)}" if result.removed else ""
        out.say(f"Checked out {len(result.updated)} file{'s' if len(result.updated) != 1 else ''}{removed}.")
        for path in result.updated:
            out.detail(f"    updated: {path}")
        for path in result.removed:
            out.detail(f"    removed: {path}")
    elif result.ok:
        out.say("Workspace already matches the pointers; nothing to do.")
    if result.unsaved:
        out.warn(f"left {len(result.unsaved)} path(s) untouched: their content is saved nowhere (use 'artver add' to keep it, or --force to discard it):")
        for path in result.unsaved:
            out.warn(f"    {path}")
    if result.missing:
        out.warn(f"{len(result.missing)} object(s) are not in the cache; run 'artver pull' to fetch them:")
        for path in result.missing:
            out.warn(f"    {path}")


@app.command()
def remove(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Artifacts (or their .art pointers) to stop tracking.", show_default=False)],
) -> None:
    """Stop tracking artifacts: delete their pointers and .gitignore lines, keep the data."""
    from artver.commands.remove import remove as run_remove

    out = _out(ctx)
    repo = _repo()
    results = run_remove(repo, paths)
    to_stage: list[str] = []
    for result in results:
        out.say(f"stopped tracking {result.path}; its data stays in place")
        to_stage.append(result.pointer_path)
        if result.gitignore:
            to_stage.append(result.gitignore)
    staged = " ".join(_quote(relative_to_cwd(repo.root, path)) for path in dict.fromkeys(to_stage))
    out.say(f"To record this in Git:  git add -A {staged}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    verbose = any(arg in ("-v", "--verbose") for arg in args)
    return error_handler.run(
        lambda: command.main(args=args, prog_name="artver", standalone_mode=False), verbose
    )
