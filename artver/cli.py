"""The ``artver`` command line: parse arguments, call one core function, print the result.

Nothing here decides anything about artifacts; it only renders what the core
returns. Errors travel as exceptions to error_handler.py.
"""

import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from artver import __version__, error_handler
from artver.console import Output, printable, relative_to_cwd, write_line
from artver.fsutil import human_size
from artver.hashing import short

app = typer.Typer(
    name="artver",
    help="Version large artifacts (models, datasets, checkpoints) in lockstep with Git commits.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

PathsArg = Annotated[Optional[list[str]], typer.Argument(help="Artifacts (or their .art pointers, or folders containing them); default: all.", show_default=False)]
RemoteOpt = Annotated[Optional[str], typer.Option("-r", "--remote", help="Remote name (default: the default remote).", show_default=False)]
JobsOpt = Annotated[Optional[int], typer.Option("-j", "--jobs", help="Parallel transfers (default: sized for the remote).", show_default=False, min=1)]
RevOpt = Annotated[Optional[list[str]], typer.Option("--rev", help="Also the pointers of this Git revision.", show_default=False)]
AllBranchesOpt = Annotated[bool, typer.Option("--all-branches", help="Also the pointers of every branch head.")]
AllTagsOpt = Annotated[bool, typer.Option("--all-tags", help="Also the pointers of every tag.")]
AllCommitsOpt = Annotated[bool, typer.Option("--all-commits", help="Also the pointers of every commit.")]
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
    hooks: Annotated[bool, typer.Option("--hooks", help="Also install the Git hooks (see 'artver install-hooks').")] = False,
) -> None:
    """Set up artver in this Git repository.

    Creates .artver/ with a committed config and its own .gitignore, and sets up the merge driver for pointer files.
    """
    from artver import api

    out = _out(ctx)
    result = api.init(".", hash_algorithm)
    driver = [change for change in result.merge_driver if change.action != "unchanged"]
    if hooks:
        from artver import hooks as hook_module

        _report_hooks(out, hook_module.install(result.root))
    elif result.created:
        out.say("Tip: 'artver install-hooks' keeps data in step with git checkout, merge, commit and push.")
    if result.created:
        out.say(f"Initialised artver in {result.root} (hash: {result.algorithm}), with Git's merge driver for pointer files.")
        staged = " ".join(relative_to_cwd(result.root, path) for path in (".artver", ".gitattributes"))
        out.say(f"Commit its config:  git add {staged}")
    elif driver:
        out.say(f"artver is already initialised in {result.root} (hash: {result.algorithm}).")
        _report_hooks(out, driver)
    else:
        out.say(f"artver is already initialised in {result.root} (hash: {result.algorithm}); nothing changed.")


@app.command()
def add(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files and folders to track.", show_default=False)],
    desc: Annotated[Optional[str], typer.Option("--desc", help="A description stored in the pointer.", show_default=False)] = None,
    meta: Annotated[Optional[list[str]], typer.Option("--meta", help="KEY=VALUE metadata stored in the pointer.", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """Cache files or folders and write their .art pointers.

    Commit the pointers (and the .gitignore lines) to Git; the bytes stay in the cache until pushed.
    """
    from artver import api
    from artver.commands.add import parse_meta

    out = _out(ctx)
    repo = _repo()
    results = api.add(paths, ".", desc, dict(parse_meta(meta or ())), out.progress())
    if json_output:
        out.json(results)
        return
    to_stage: list[str] = []
    for result in results:
        what = f"{result.files} file{'s' if result.files != 1 else ''}, " if result.kind == "dir" else ""
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
    cloud: Annotated[bool, typer.Option("--cloud", help="Instead: whether each artifact's objects are all in the remote.")] = False,
    remote: RemoteOpt = None,
    jobs: JobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Show which artifacts differ from their pointers.

    With --cloud: whether each artifact's objects are all in the remote.
    """
    from artver import api
    from artver.commands.status import CLEAN

    out = _out(ctx)
    if cloud:
        _cloud_status(out, paths, remote, jobs, check, json_output)
        return
    results = api.status(paths, ".", out.progress())
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
            shown = [f"    {label + ':':10} {item}" for label, items in
                     (("added", result.added), ("modified", result.modified), ("deleted", result.deleted)) for item in items]
            _print_capped(out, out.say, shown)
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
    """Make the workspace match the pointer files.

    Run it after 'git checkout' (or install the hooks, which do).
    """
    from artver import api

    out = _out(ctx)
    result = api.checkout(paths, ".", force, out.progress())
    if json_output:
        out.json({**_asdict(result), "ok": result.ok})
    else:
        _report_checkout(out, result)
    if not result.ok:
        raise typer.Exit(1)


LIST_LIMIT = 20  # lines of one list of paths shown without -v


def _print_capped(out: Output, emit: Callable[[str], None], lines: list[str]) -> None:
    """Print a list of paths, at most LIST_LIMIT lines unless -v: a checkout of 20,000
    missing files must not bury the one line that says what to do."""
    shown = lines if out.verbose else lines[:LIST_LIMIT]
    for line in shown:
        emit(line)
    if len(shown) < len(lines):
        indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
        emit(f"{indent}... and {len(lines) - len(shown)} more (-v or --json for all)")


def _asdict(value: object) -> dict:
    from artver.console import to_jsonable

    return to_jsonable(value)


def _report_checkout(out: Output, result, after_fetch: bool = False) -> None:  # type: ignore[no-untyped-def]
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
        _print_capped(out, out.warn, [f"    {path}" for path in result.unsaved])
    if result.missing:
        why = "they could not be fetched (see above)" if after_fetch else "run 'artver pull' to fetch them"
        out.warn(f"{len(result.missing)} object(s) are not in the cache; {why}:")
        _print_capped(out, out.warn, [f"    {path}" for path in result.missing])
    if result.corrupt:
        out.warn(f"{len(result.corrupt)} file(s) not checked out: their cache object was corrupt and is now quarantined; run 'artver pull' to get it again:")
        _print_capped(out, out.warn, [f"    {path}" for path in result.corrupt])
    if result.git_tracked:
        out.warn(f"left {len(result.git_tracked)} path(s) untouched: Git tracks them (a path belongs to Git or to an artver pointer, not both; --force lets the pointer win):")
        _print_capped(out, out.warn, [f"    {path}" for path in result.git_tracked])


@app.command()
def remove(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Artifacts (or their .art pointers) to stop tracking.", show_default=False)],
) -> None:
    """Stop tracking artifacts; their data stays in place.

    Deletes their pointers and .gitignore lines.
    """
    from artver import api

    out = _out(ctx)
    repo = _repo()
    results = api.remove(paths, ".")
    to_stage: list[str] = []
    for result in results:
        out.say(f"stopped tracking {result.path}; its data stays in place")
        to_stage.append(result.pointer_path)
        if result.gitignore:
            to_stage.append(result.gitignore)
    staged = " ".join(_quote(relative_to_cwd(repo.root, path)) for path in dict.fromkeys(to_stage))
    out.say(f"To record this in Git:  git add -A {staged}")


def _cloud_status(out: Output, paths: list[str] | None, remote: str | None, jobs: int | None, check: bool, json_output: bool) -> None:
    from artver import api
    from artver.commands.status import IN_REMOTE

    results = api.cloud_status(paths, ".", remote, jobs)
    incomplete = [result for result in results if result.state != IN_REMOTE]
    if json_output:
        out.json(results)
    elif not results:
        out.say("No artifacts are tracked here yet.")
    elif not incomplete:
        out.say(f"All {len(results)} artifact{'s are' if len(results) != 1 else ' is'} complete in the remote.")
    else:
        for result in incomplete:
            detail = f"; {result.detail}" if result.detail else ""
            out.say(f"{result.state:17} {result.path} ({result.missing} of {result.objects} objects missing{detail})")
        out.detail("hint: 'artver push' uploads what is missing")
    if check and incomplete:
        raise typer.Exit(1)


def _revisions(rev: list[str] | None, all_branches: bool, all_tags: bool, all_commits: bool):  # type: ignore[no-untyped-def]
    from artver.scope import Revisions

    return Revisions(tuple(rev or ()), all_branches, all_tags, all_commits)


def _report_transfer(out: Output, summary, verb: str, json_output: bool, extra: dict | None = None) -> None:  # type: ignore[no-untyped-def]
    if json_output:
        out.json({**_asdict(summary), "ok": summary.ok, **(extra or {})})
        return
    if summary.transferred == 0 and not summary.failed:
        out.say(f"Everything is up to date: {summary.skipped} object{'s' if summary.skipped != 1 else ''} in {summary.remote}.")
    else:
        out.say(
            f"{verb} {summary.transferred} object{'s' if summary.transferred != 1 else ''} ({human_size(summary.bytes)}), "
            f"{summary.skipped} already there, {len(summary.failed)} failed; {summary.remote}."
        )
    for failure in summary.failed[:10]:
        out.warn(f"failed: {short(failure.object)}: {failure.error}")
    if len(summary.failed) > 10:
        out.warn(f"... and {len(summary.failed) - 10} more failures (--json lists them all)")


@app.command()
def push(
    ctx: typer.Context,
    paths: PathsArg = None,
    remote: RemoteOpt = None,
    jobs: JobsOpt = None,
    rev: RevOpt = None,
    all_branches: AllBranchesOpt = False,
    all_tags: AllTagsOpt = False,
    all_commits: AllCommitsOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Upload the artifacts' objects that the remote lacks."""
    from artver import api

    out = _out(ctx)
    summary = api.push(paths, ".", remote, jobs, _revisions(rev, all_branches, all_tags, all_commits), out.progress())
    _report_transfer(out, summary, "Pushed", json_output)
    if not summary.ok:
        raise typer.Exit(1)


@app.command()
def fetch(
    ctx: typer.Context,
    paths: PathsArg = None,
    remote: RemoteOpt = None,
    jobs: JobsOpt = None,
    rev: RevOpt = None,
    all_branches: AllBranchesOpt = False,
    all_tags: AllTagsOpt = False,
    all_commits: AllCommitsOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Download the artifacts' objects into the cache.

    The workspace is not touched (see 'artver pull').
    """
    from artver import api

    out = _out(ctx)
    summary = api.fetch(paths, ".", remote, jobs, _revisions(rev, all_branches, all_tags, all_commits), out.progress())
    _report_transfer(out, summary, "Fetched", json_output)
    if not summary.ok:
        raise typer.Exit(1)


@app.command()
def pull(
    ctx: typer.Context,
    paths: PathsArg = None,
    remote: RemoteOpt = None,
    jobs: JobsOpt = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite or delete workspace data even if it is saved nowhere.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Fetch, then checkout: get the pointers' data.

    Brings the workspace to the pointers' data from the remote.
    """
    from artver import api

    out = _out(ctx)
    result = api.pull(paths, ".", remote, jobs, force, out.progress())
    if json_output:
        out.json({"fetch": {**_asdict(result.fetch), "ok": result.fetch.ok}, "checkout": {**_asdict(result.checkout), "ok": result.checkout.ok}, "ok": result.ok})
    else:
        _report_transfer(out, result.fetch, "Fetched", False)
        _report_checkout(out, result.checkout, after_fetch=True)
    if not result.ok:
        raise typer.Exit(1)


remote_app = typer.Typer(help="Configure where artifacts are pushed.\n\nS3, Google Cloud Storage, or a directory.", no_args_is_help=True)
app.add_typer(remote_app, name="remote")
LocalOpt = Annotated[bool, typer.Option("--local", help="Write to .artver/config.local (not committed) instead of .artver/config.")]


@remote_app.command("add")
def remote_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name, e.g. origin.")],
    url: Annotated[str, typer.Argument(help="s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, file:///PATH or a directory.")],
    default: Annotated[bool, typer.Option("--default", "-d", help="Make it the default remote.")] = False,
    local: LocalOpt = False,
) -> None:
    """Add a remote."""
    from artver.commands import remote as remote_commands

    import os
    from urllib.parse import urlsplit

    repo = _repo()
    if url and len(urlsplit(url).scheme) <= 1 and not os.path.isabs(os.path.expanduser(url)):
        url = os.path.relpath(os.path.abspath(url), repo.root)  # typed relative to here; stored relative to the root
    info = remote_commands.add(repo, name, url, default, local)
    _out(ctx).say(f"Added remote '{info.name}' -> {info.url}{' (default)' if info.default else ''}.")


@remote_app.command("list")
def remote_list(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """List the remotes."""
    from artver.commands import remote as remote_commands

    out = _out(ctx)
    remotes = remote_commands.list_remotes(_repo())
    if json_output:
        out.json(remotes)
        return
    if not remotes:
        out.say("No remotes; add one with 'artver remote add NAME URL --default'.")
    for info in remotes:
        extra = "".join(f" {key}={value}" for key, value in info.settings.items() if key != "url")
        secrets = "".join(f" {key}=(set)" for key in info.secrets)
        out.say(f"{'*' if info.default else ' '} {info.name}\t{info.url}{extra}{secrets}")


@remote_app.command("remove")
def remote_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The remote to remove.")]) -> None:
    """Remove a remote (its stored objects are not touched)."""
    from artver.commands import remote as remote_commands

    remote_commands.remove(_repo(), name)
    _out(ctx).say(f"Removed remote '{name}'.")


@remote_app.command("default")
def remote_default(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The remote to use by default.")], local: LocalOpt = False) -> None:
    """Choose the default remote."""
    from artver.commands import remote as remote_commands

    remote_commands.set_default(_repo(), name, local)
    _out(ctx).say(f"Default remote is now '{name}'.")


@remote_app.command("modify")
def remote_modify(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The remote to change.")],
    key: Annotated[str, typer.Argument(help="url, endpoint_url, region, profile, project, credentials_path, jobs, retries, timeout, speed_limit, speed_time, link, direct_requests, or a secret: access_key_id, secret_access_key, session_token.")],
    value: Annotated[Optional[str], typer.Argument(help="The new value (omit with --unset).", show_default=False)] = None,
    local: LocalOpt = False,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the setting.")] = False,
) -> None:
    """Change one setting of a remote.

    Secrets, profile and credentials_path need --local.
    """
    from artver.commands import remote as remote_commands
    from artver.errors import UsageError

    if (value is None) != unset:
        raise UsageError("give either a VALUE or --unset")
    remote_commands.modify(_repo(), name, key, None if unset else value, local)
    _out(ctx).say(f"{'Unset' if unset else 'Set'} {key} of remote '{name}'{' in .artver/config.local' if local else ''}.")


GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def _hoist_global_flags(args: list[str]) -> list[str]:
    """Let -q/-v stand anywhere ('artver add -q x' as well as 'artver -q add x')."""
    end = args.index("--") if "--" in args else len(args)
    flags = [arg for arg in args[:end] if arg in GLOBAL_FLAGS]
    rest = [arg for arg in args[:end] if arg not in GLOBAL_FLAGS]
    return flags + rest + args[end:]


@app.command()
def diff(
    ctx: typer.Context,
    arguments: Annotated[Optional[list[str]], typer.Argument(metavar="[REV_A [REV_B]] [PATH...]", help="No revision: HEAD against the workspace pointers; one: REV_A against the workspace; two: REV_A against REV_B. Then optional artifact paths.", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """Show which artifacts changed between revisions.

    For directories, also which files inside them.
    """
    from artver import api
    from artver.commands.diff import split_arguments

    out = _out(ctx)
    revisions, paths = split_arguments(_repo(), list(arguments or []))
    result = api.diff(revisions[0] if revisions else None, revisions[1] if len(revisions) > 1 else None, paths, ".")
    if json_output:
        out.json(result)
        return
    if not result.changes:
        out.say(f"No artifact changes between {result.old} and {result.new}.")
        return
    out.say(f"Artifact changes from {result.old} to {result.new}:")
    rows = []
    for change in result.changes:
        name = f"{change.old_path} -> {change.path}" if change.old_path else change.path
        size = f"{_size_text(change.old_size)} -> {_size_text(change.new_size)}"
        hashes = f"{_hash_text(change.old_hash)} -> {_hash_text(change.new_hash)}"
        rows.append((change.change, name, size, hashes))
    widths = [max(len(row[index]) for row in rows) for index in range(3)]
    for change, row in zip(result.changes, rows):
        out.say("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
        if change.kind == "dir" and change.change == "modified":
            if change.detail:
                out.say(f"    ({change.detail})")
            else:
                out.say(f"    {change.files_added} added, {change.files_deleted} deleted, {change.files_modified} modified")
            marks = {"added": "+", "deleted": "-", "modified": "~"}
            _print_capped(out, out.say, [f"    {marks[item.change]} {item.path}" for item in change.files])


def _size_text(size: int | None) -> str:
    return "-" if size is None else human_size(size)


def _hash_text(value: str | None) -> str:
    return "-" if value is None else short(value)


@app.command()
def log(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A tracked artifact, or a file inside a tracked directory.")],
    max_count: Annotated[Optional[int], typer.Option("-n", "--max-count", help="Show at most N entries.", min=1, show_default=False)] = None,
    rev: Annotated[Optional[str], typer.Option("--rev", help="Start from this Git revision instead of HEAD (e.g. a branch, when HEAD is detached at an old tag).", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """Show the commits that changed an artifact.

    Who, when, why, and what: one entry per commit.
    """
    from artver import api

    out = _out(ctx)
    entries = api.log(path, ".", max_count, rev or "HEAD")
    if json_output:
        out.json(entries)
        return
    if not entries:
        out.say(f"No commits change {path} yet" + (f" in the history of {rev}." if rev else "."))
    for entry in entries:
        what = entry.change if entry.change != "renamed" else f"renamed from {entry.old_path}"
        detail = f"{_size_text(entry.size)}  {_hash_text(entry.hash)}" if entry.hash else ""
        out.say(f"{entry.short}  {entry.date[:16].replace('T', ' ')}  {entry.author.split(' <')[0]}  {entry.subject}")
        out.say(f"          {what}  {detail}".rstrip())
    if rev is None:
        from artver.commands.log import detached_head

        detached = detached_head(_repo())
        if detached is not None:
            out.say(detached.hint(path))


@app.command("ls")
def ls_command(
    ctx: typer.Context,
    rev: Annotated[Optional[str], typer.Option("--rev", help="List at this Git revision (default: the workspace pointers).", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """List the tracked artifacts.

    With size, file count, description and metadata.
    """
    from artver import api

    out = _out(ctx)
    items = api.ls(rev, ".")
    if json_output:
        out.json(items)
        return
    if not items:
        out.say("No artifacts are tracked" + (f" at {rev}." if rev else " here yet."))
    rows = [
        (item.path, item.kind, f"{item.files} file{'s' if item.files != 1 else ''}" if item.kind == "dir" else "",
         human_size(item.size), short(item.hash))
        for item in items
    ]
    widths = [max((len(row[index]) for row in rows), default=0) for index in range(5)]
    for item, row in zip(items, rows):
        meta = "".join(f" {key}={value}" for key, value in item.meta.items())
        desc = f"  {item.desc}" if item.desc else ""
        out.say(("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + f"{desc}{meta}").rstrip())


@app.command()
def publish(
    ctx: typer.Context,
    arguments: Annotated[list[str], typer.Argument(metavar="[PATH...] REGISTRY/REPO:TAG", help="Artifacts to publish (default: every artifact of the revision), then the registry, repository and tag to publish them to.", show_default=False)],
    rev: Annotated[Optional[str], typer.Option("--rev", metavar="REV", help="The Git revision whose artifacts to publish (default: HEAD).", show_default=False)] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Talk plain HTTP to the registry (for a local test registry; credentials travel in the clear).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Move the tag if it already points to another manifest.")] = False,
    chunk_size: Annotated[str, typer.Option("--chunk-size", metavar="SIZE", help="Bytes per upload request, e.g. 16MiB (lower it behind a proxy that limits request bodies).")] = "64MiB",
    json_output: JsonOpt = False,
) -> None:
    """Publish the artifacts of a commit to an OCI registry.

    As one OCI artifact in the CNCF ModelPack format, traceable to the commit.
    """
    from artver import api
    from artver.commands.check_large_files import parse_size
    from artver.errors import UsageError

    out = _out(ctx)
    try:
        size = parse_size(chunk_size)
    except UsageError:
        raise UsageError(f"--chunk-size {chunk_size!r}: expected a size like 64MiB or 16MB") from None
    *paths, reference = arguments
    result = api.publish(reference, paths or None, rev, ".", insecure, force, size, out.progress())
    if json_output:
        out.json(result)
        return
    count = f"{len(result.layers)} artifact{'s' if len(result.layers) != 1 else ''}"
    commit = f"{result.commit[:8]} ({result.revision})"
    if result.tag == "unchanged" and not result.uploaded_bytes:
        out.say(f"{result.reference} already holds these {count} of {commit}; nothing to send.")
    else:
        moved = " (tag moved)" if result.tag == "moved" else ""
        out.say(f"Published {count} of {commit} to {result.reference}{moved}:")
    rows = [(layer.action, layer.path, human_size(layer.size), short(layer.digest, 12)) for layer in result.layers]
    widths = [max(len(row[index]) for row in rows) for index in range(3)]
    for layer, row in zip(result.layers, rows):
        out.say("  " + "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + f"  {row[3]}  {layer.media_type}")
    out.say(f"Manifest {result.manifest}; {human_size(result.uploaded_bytes)} uploaded.")


@app.command("install-hooks")
def install_hooks(ctx: typer.Context) -> None:
    """Install Git hooks that keep data in step with commits.

    Existing hooks are kept and chained. Also sets up the merge driver for pointer files.
    """
    from artver import hooks

    root = _repo().root
    _report_hooks(_out(ctx), hooks.install(root) + hooks.install_merge_driver(root))


def _report_hooks(out: Output, changes) -> None:  # type: ignore[no-untyped-def]
    from artver import hooks as hook_module
    from artver.hooks import CHAINED_SUFFIX

    for change in changes:
        note = f" (your existing hook is kept as {change.hook}{CHAINED_SUFFIX} and still runs)" if change.action == "chained" else ""
        where = f" as {change.file}, which the {change.hook} hook of another tool runs" if change.file else ""
        if change.hook == hook_module.ATTRIBUTES_FILE and change.action != "unchanged":
            note = f" ({hook_module.ATTRIBUTES_LINE}: commit it, so every clone merges pointer files with artver)"
        out.say(f"{change.action:9} {change.hook}{where}{note}")


@app.command("uninstall-hooks")
def uninstall_hooks(ctx: typer.Context) -> None:
    """Remove the hooks 'artver install-hooks' added.

    Also the merge driver's config; your own hooks stay.
    """
    from artver import hooks

    out = _out(ctx)
    root = _repo().root
    changes = hooks.uninstall(root) + hooks.uninstall_merge_driver(root)
    for change in changes:
        out.say(f"{change.action:9} {change.hook}" + (f" (artver's part of {change.file})" if change.file else ""))
    if not changes:
        out.say("No artver hooks were installed.")


@app.command("hook", hidden=True)
def hook(
    name: Annotated[str, typer.Argument()],
    arguments: Annotated[Optional[list[str]], typer.Argument()] = None,
) -> None:
    """Run one Git hook's artver part (called by the installed hooks)."""
    from artver.commands.hook import run as run_hook

    stdin = sys.stdin.read() if name == "pre-push" and not sys.stdin.isatty() else ""
    result = run_hook(_repo(), name, list(arguments or []), stdin)
    for message in result.messages:
        write_line(sys.stderr, message)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def resolve(
    ctx: typer.Context,
    paths: Annotated[Optional[list[str]], typer.Argument(help="Conflicted artifacts (or their .art pointers); default: every pointer Git holds in conflict.", show_default=False)] = None,
    ours: Annotated[bool, typer.Option("--ours", help="Where both branches changed the same thing, keep our version (every other change of both is kept).")] = False,
    theirs: Annotated[bool, typer.Option("--theirs", help="Where both branches changed the same thing, keep their version.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Resolve pointer files a merge left in conflict.

    Merges them entry by entry again, or keeps one side (--ours, --theirs).
    """
    from artver import api
    from artver.errors import UsageError

    if ours and theirs:
        raise UsageError("choose either --ours or --theirs")
    out = _out(ctx)
    repo = _repo()
    results = api.resolve(paths or None, ".", "ours" if ours else "theirs" if theirs else None)
    if json_output:
        out.json(results)
    else:
        for result in results:
            if result.action == "merged":
                out.say(f"merged    {result.path}: every change of both branches")
            elif result.action == "conflict":
                out.say(f"conflict  {result.path}: {result.detail}")
            elif result.action == "deleted":
                out.say(f"deleted   {result.pointer_path}: {result.detail}; kept the deletion")
            else:
                kept = f": {result.detail}; kept {result.action}" if result.detail else ""
                out.say(f"{result.action:9} {result.path}{kept}")
        done = [result for result in results if result.action != "conflict"]
        if done:
            pointers = " ".join(_quote(relative_to_cwd(repo.root, result.pointer_path)) for result in done)
            artifacts = " ".join(_quote(relative_to_cwd(repo.root, result.path)) for result in done if result.action != "deleted")
            verb = "git add -A" if any(result.action == "deleted" for result in done) else "git add"
            out.say(f"Next: '{verb} {pointers}' marks {'it' if len(done) == 1 else 'them'} resolved" + (f"; 'artver checkout {artifacts}' updates the data (or 'artver pull {artifacts}' if files are missing)." if artifacts else "."))
        if len(done) != len(results):
            out.say("Still in conflict: rerun with --ours or --theirs to keep one side of what both branches changed.")
    if any(result.action == "conflict" for result in results):
        raise typer.Exit(1)


@app.command("merge-driver", hidden=True)
def merge_driver(
    arguments: Annotated[list[str], typer.Argument(help="BASE OURS THEIRS MARKER-SIZE PATH, as Git passes them.")],
) -> None:
    """Git's merge driver for pointer files (set up by 'artver init' and 'artver install-hooks')."""
    from artver.commands.merge import run_driver
    from artver.errors import UsageError

    if len(arguments) != 5:
        raise UsageError("merge-driver takes BASE OURS THEIRS MARKER-SIZE PATH (Git passes them; see 'git help gitattributes')")
    result = run_driver(*arguments)
    if result.message:
        sys.stderr.write(f"artver: {result.message}\n")
    if not result.clean:
        raise typer.Exit(1)


@app.command("check-large-files")
def check_large_files(
    ctx: typer.Context,
    files: Annotated[Optional[list[str]], typer.Argument(help="Files to check (default: the staged files).", show_default=False)] = None,
    max_size: Annotated[str, typer.Option("--max-size", help="Largest size allowed in Git, e.g. 10MiB.")] = "10MiB",
) -> None:
    """Refuse files too large for Git (a pre-commit check).

    Fails if files larger than --max-size are about to be committed to Git instead of artver.
    """
    from artver.commands.check_large_files import check, parse_size
    from artver.git import find_work_tree

    limit = parse_size(max_size)
    found = check(find_work_tree(Path.cwd()), list(files or []), limit)
    for item in found:
        write_line(
            sys.stderr,
            f"artver: {item.path} is {human_size(item.size)}, over the {human_size(limit)} limit for Git; "
            f"track it with 'artver add {_quote(item.path)}' (and 'git rm --cached {_quote(item.path)}' if already staged)",
        )
    if found:
        raise typer.Exit(1)


@app.command()
def gc(
    ctx: typer.Context,
    workspace: Annotated[bool, typer.Option("--workspace", "-w", help="Keep the objects the workspace pointers reference.")] = False,
    rev: RevOpt = None,
    all_branches: AllBranchesOpt = False,
    all_tags: AllTagsOpt = False,
    all_commits: AllCommitsOpt = False,
    cloud: Annotated[bool, typer.Option("--cloud", help="Also delete unreferenced objects from the remote.")] = False,
    remote: RemoteOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting from the remote.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Only say what would be deleted.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Allow gc on a cache shared with other clones (cache.dir).")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Delete cached objects that no pointer in scope uses.

    The scope is the workspace pointers and the revisions given; with --cloud, the remote too.
    """
    from artver.commands import gc as gc_commands
    from artver.errors import UsageError

    out = _out(ctx)
    repo = _repo()
    revisions = _revisions(rev, all_branches, all_tags, all_commits)

    def confirm(plan: "gc_commands.GcPlan") -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(f"gc --cloud would delete {len(plan.remote)} object(s) from {plan.remote_url}; add --yes to confirm")
        return typer.confirm(printable(f"Delete {len(plan.remote)} object(s) from {plan.remote_url}?"), default=False)

    result = gc_commands.gc(repo, workspace, revisions, cloud, remote, force, dry_run, confirm)
    if json_output:
        out.json(result)
        return
    verb = "Would delete" if result.dry_run else "Deleted"
    out.say(f"{verb} {result.deleted} cache object(s) ({human_size(result.bytes)}); {result.referenced} referenced object(s) kept.")
    if result.remote:
        out.say(f"{verb} {len(result.remote_deleted)} object(s) from {result.remote}{':' if result.remote_deleted else '.'}")
        for hash_value in result.remote_deleted:
            out.say(f"    {hash_value}")


@app.command()
def verify(
    ctx: typer.Context,
    paths: PathsArg = None,
    everything: Annotated[bool, typer.Option("--all", help="Check every object in the cache, not only those the workspace references.")] = False,
    remote: Annotated[Optional[str], typer.Option("-r", "--remote", help="Also download and check the objects in this remote.", show_default=False)] = None,
    jobs: JobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Re-hash cache objects; quarantine corrupt ones.

    With -r, also download and check the remote's copies.
    """
    from artver import api

    out = _out(ctx)
    result = api.verify(paths, ".", everything, remote, jobs, out.progress())
    if json_output:
        out.json({**_asdict(result), "ok": result.ok, "repair": result.repair})
    else:
        remote_part = f" and {result.remote_checked} in {result.remote}" if result.remote else ""
        out.say(f"Checked {result.checked} cache object(s){remote_part}: {'all intact' if result.ok else str(len(result.problems)) + ' problem(s)'}.")
        for problem in result.problems:
            used = f" (used by {', '.join(problem.artifacts[:3])}{' ...' if len(problem.artifacts) > 3 else ''})" if problem.artifacts else ""
            note = ", quarantined" if problem.object in result.quarantined else ""
            out.warn(f"{problem.where} object {problem.object} is {problem.problem}{note}{used}")
        for hint in result.repair:
            out.warn(f"to repair: {hint}")
    if not result.ok:
        raise typer.Exit(1)


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _link_seconds(text: str) -> int:
    """--expires as seconds: a whole number, optionally followed by s, m, h or d."""
    from artver.errors import UsageError
    from artver.remotes.base import expiry_problem

    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _DURATION_UNITS else ""
    number = value[: len(value) - len(unit)]
    if not (number.isascii() and number.isdigit()) or len(number) > 9:
        raise UsageError(f"--expires {text!r}: expected a duration like 3600, 30m, 12h or 7d")
    seconds = int(number) * _DURATION_UNITS[unit]
    problem = expiry_problem(seconds)
    if problem is not None:
        raise UsageError(f"--expires {text}: {problem}")
    return seconds


@app.command("url")
def url_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The artifact, or a file inside a tracked directory.", show_default=False)],
    rev: Annotated[Optional[str], typer.Option("--rev", metavar="REV", help="The Git revision (default: the workspace pointers).", show_default=False)] = None,
    remote: RemoteOpt = None,
    expires: Annotated[Optional[str], typer.Option("--expires", metavar="DURATION", help="How long the link works: seconds, or e.g. 30m, 12h, 7d (at most 7d; default 1h).", show_default=False)] = None,
    storage_url: Annotated[bool, typer.Option("--storage-url", help="Print where the object lives (s3://..., gs://..., a path) instead of a download link; no request is made.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Print a link that downloads an artifact with plain curl.

    An S3 presigned URL, a GCS signed URL or a file:// URL, checked to exist in the remote.
    The link alone goes to stdout (even with -q): curl -fo model.pt "$(artver url model.pt)".
    Whoever has the link can download the object until it expires.
    """
    import datetime

    from artver import api
    from artver.errors import UsageError

    if storage_url and expires is not None:
        raise UsageError("--expires and --storage-url exclude each other: a storage URL does not expire")
    seconds = None if storage_url else _link_seconds(expires or "1h")
    signed_at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    url = api.get_url(path, rev, ".", remote, seconds)
    if json_output:
        expires_at = None
        if seconds is not None and not url.startswith("file:"):  # a file:// URL never expires
            expires_at = (signed_at + datetime.timedelta(seconds=seconds)).isoformat()
        from artver.artifacts import artifact_of_argument

        relative = artifact_of_argument(_repo(), str(Path(path).absolute()))  # repository-relative, as in every --json
        _out(ctx).json({"path": relative, "rev": rev, "url": url, "expires_in": seconds, "expires_at": expires_at})
        return
    write_line(sys.stdout, url)


def main(argv: list[str] | None = None) -> int:
    args = _hoist_global_flags(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    verbose = any(arg in ("-v", "--verbose") for arg in args)
    return error_handler.run(
        lambda: command.main(args=args, prog_name="artver", standalone_mode=False), verbose
    )
