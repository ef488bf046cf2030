"""The ``artver`` command line: parse arguments, call one artver.api function, render the result.

Nothing here decides anything about artifacts, nor words a result: render.py does. cli.py
imports only api, render, console and errors (tests/test_layers.py checks it), so every
command goes through the same door as a notebook. Errors travel as exceptions to
error_handler.py.
"""

import sys
from typing import Annotated, Any

import typer

from artver import __version__, api, error_handler, render
from artver.console import Output, printable, write_line
from artver.errors import UsageError

app = typer.Typer(
    name="artver",
    help="Version large artifacts (models, datasets, checkpoints) in lockstep with Git commits.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

PathsArg = Annotated[list[str] | None, typer.Argument(help="Artifacts (or their .art pointers, or folders containing them), or files or folders inside a tracked directory; default: all.", show_default=False)]
RemoteOpt = Annotated[str | None, typer.Option("-r", "--remote", help="Remote name (default: the default remote).", show_default=False)]
JobsOpt = Annotated[int | None, typer.Option("-j", "--jobs", help="Parallel transfers (default: sized for the remote).", show_default=False, min=1)]
RevOpt = Annotated[list[str] | None, typer.Option("--rev", help="Also the pointers of this Git revision.", show_default=False)]
AllBranchesOpt = Annotated[bool, typer.Option("--all-branches", help="Also the pointers of every branch head.")]
AllTagsOpt = Annotated[bool, typer.Option("--all-tags", help="Also the pointers of every tag.")]
AllCommitsOpt = Annotated[bool, typer.Option("--all-commits", help="Also the pointers of every commit.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON (see docs/json.md).")]


def _transferred(out: Output, summary: Any, verb: str, json_output: bool) -> None:
    if json_output:
        out.json(summary)
    else:
        render.transfer(out, summary, verb)
    if not summary.ok:
        raise typer.Exit(1)


def _version(value: bool) -> None:
    if value:
        print(f"artver {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only errors.")] = False,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True, help="Print more detail: the remote, what was decided and how long it took (and tracebacks of internal errors); -vv also each request to a remote.")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = Output(quiet=quiet, verbose=verbose > 0, trace=verbose > 1)


def _out(ctx: typer.Context) -> Output:
    return ctx.obj if isinstance(ctx.obj, Output) else Output()


@app.command()
def init(
    ctx: typer.Context,
    hash_algorithm: Annotated[str | None, typer.Option("--hash", help="Hash algorithm for the whole repository: xxh128 (default, fastest) or sha256 (cryptographic).", show_default=False)] = None,
    hooks: Annotated[bool, typer.Option("--hooks", help="Also install the Git hooks (see 'artver install-hooks').")] = False,
) -> None:
    """Set up artver in this Git repository.

    Creates .artver/ with a committed config and its own .gitignore, and sets up the merge driver for pointer files.
    """
    out = _out(ctx)
    render.init(out, api.init(".", hash_algorithm, hooks))


@app.command()
def add(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files and folders to track.", show_default=False)],
    desc: Annotated[str | None, typer.Option("--desc", help="A description stored in the pointer.", show_default=False)] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="KEY=VALUE metadata stored in the pointer.", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """Cache files or folders and write their .art pointers.

    Commit the pointers (and the .gitignore lines) to Git; the bytes stay in the cache until pushed.
    """
    out = _out(ctx)
    results = api.add(paths, ".", desc, api.parse_meta(meta or ()), out.progress())
    if json_output:
        out.json(results)
        return
    render.add(out, results, api.work_tree("."))


@app.command()
def status(
    ctx: typer.Context,
    paths: PathsArg = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if anything is not clean (for hooks and CI).")] = False,
    cloud: Annotated[bool, typer.Option("--cloud", help="Instead: whether each artifact's objects are all in the remote.")] = False,
    remote: RemoteOpt = None,
    jobs: JobsOpt = None,
    json_output: JsonOpt = False,
    check_updates: Annotated[bool, typer.Option("--check-updates", help="Instead: whether each imported artifact is behind its source (reads the source repositories: needs the network).")] = False,
) -> None:
    """Show which artifacts differ from their pointers.

    With --cloud: whether each artifact's objects are all in the remote.
    """
    out = _out(ctx)
    if check_updates:
        checks = api.check_updates(paths, ".")
        if json_output:
            out.json(checks)
        else:
            render.import_checks(out, checks)
        if check and any(item.behind or item.latest is None for item in checks):
            raise typer.Exit(1)
        return
    if cloud:
        cloud_results = api.cloud_status(paths, ".", remote, jobs)
        incomplete = [result for result in cloud_results if result.state != api.CloudState.IN_REMOTE]
        if json_output:
            out.json(cloud_results)
        else:
            render.cloud_status(out, cloud_results, incomplete)
        if check and incomplete:
            raise typer.Exit(1)
        return
    results = api.status(paths, ".", out.progress())
    dirty = [result for result in results if result.state != api.State.CLEAN]
    if json_output:
        out.json(results)
    else:
        render.status(out, results, dirty)
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
    out = _out(ctx)
    result = api.checkout(paths, ".", force, out.progress())
    if json_output:
        out.json(result)
    else:
        render.checkout(out, result)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def remove(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Artifacts (or their .art pointers) to stop tracking.", show_default=False)],
) -> None:
    """Stop tracking artifacts; their data stays in place.

    Deletes their pointers and .gitignore lines.
    """
    out = _out(ctx)
    results = api.remove(paths, ".")
    render.remove(out, results, api.work_tree("."))


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
    out = _out(ctx)
    summary = api.push(paths, ".", remote, jobs, api.Revisions(tuple(rev or ()), all_branches, all_tags, all_commits), out.progress())
    _transferred(out, summary, "Pushed", json_output)


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
    out = _out(ctx)
    summary = api.fetch(paths, ".", remote, jobs, api.Revisions(tuple(rev or ()), all_branches, all_tags, all_commits), out.progress())
    _transferred(out, summary, "Fetched", json_output)


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
    out = _out(ctx)
    result = api.pull(paths, ".", remote, jobs, force, out.progress())
    if json_output:
        out.json(result)
    else:
        render.pull(out, result)
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
    render.remote_added(_out(ctx), api.remote_add(name, url, default, local, "."))


@remote_app.command("list")
def remote_list(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """List the remotes."""
    out = _out(ctx)
    remotes = api.remote_list(".")
    if json_output:
        out.json(remotes)
    else:
        render.remote_list(out, remotes)


@remote_app.command("remove")
def remote_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The remote to remove.")]) -> None:
    """Remove a remote (its stored objects are not touched)."""
    api.remote_remove(name, ".")
    _out(ctx).say(f"Removed remote '{name}'.")


@remote_app.command("default")
def remote_default(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The remote to use by default.")], local: LocalOpt = False) -> None:
    """Choose the default remote."""
    api.remote_default(name, local, ".")
    _out(ctx).say(f"Default remote is now '{name}'.")


@remote_app.command("modify")
def remote_modify(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The remote to change.")],
    key: Annotated[str, typer.Argument(help="url, endpoint_url, region, profile, project, credentials_path, jobs, retries, timeout, speed_limit, speed_time, link, direct_requests, pack, pack_threshold, pack_size, chunk, chunk_threshold, or a secret: access_key_id, secret_access_key, session_token.")],
    value: Annotated[str | None, typer.Argument(help="The new value (omit with --unset).", show_default=False)] = None,
    local: LocalOpt = False,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the setting.")] = False,
) -> None:
    """Change one setting of a remote.

    Secrets, profile and credentials_path need --local.
    """
    if (value is None) != unset:
        raise UsageError("give either a VALUE or --unset")
    api.remote_modify(name, key, None if unset else value, local, ".")
    _out(ctx).say(f"{'Unset' if unset else 'Set'} {key} of remote '{name}'{' in .artver/config.local' if local else ''}.")


@app.command("config")
def config_command(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="core.remote, core.listing_inline_max, core.lock_timeout, core.hash (read only), cache.dir, cache.link, or remote.NAME.KEY (see 'artver remote modify').", show_default=False)],
    value: Annotated[str | None, typer.Argument(help="The new value; omit it to print the current one.", show_default=False)] = None,
    local: LocalOpt = False,
    user: Annotated[bool, typer.Option("--user", help="Write to your user config (~/.config/artver/config: every clone on this machine); only cache.dir, cache.link, core.lock_timeout.")] = False,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the setting.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Print or change one setting, without editing a file.

    Without VALUE, prints the value in effect (exit 1 if it is not set). cache.dir and a remote's secrets, profile and credentials_path are never written to the committed .artver/config: add --local (or --user).
    """
    out = _out(ctx)
    setting = api.config(key, value, unset, local, user, ".")
    if json_output:
        out.json(setting)
    else:
        render.config(out, setting)
    if setting.action is None and setting.value is None:
        raise typer.Exit(1)


GLOBAL_FLAGS = ("-q", "--quiet", "-v", "-vv", "--verbose")


def _hoist_global_flags(args: list[str]) -> list[str]:
    """Let -q/-v stand anywhere ('artver add -q x' as well as 'artver -q add x')."""
    end = args.index("--") if "--" in args else len(args)
    flags = [arg for arg in args[:end] if arg in GLOBAL_FLAGS]
    rest = [arg for arg in args[:end] if arg not in GLOBAL_FLAGS]
    return flags + rest + args[end:]


@app.command()
def diff(
    ctx: typer.Context,
    arguments: Annotated[list[str] | None, typer.Argument(metavar="[REV_A [REV_B]] [PATH...]", help="No revision: HEAD against the workspace pointers; one: REV_A against the workspace; two: REV_A against REV_B. Then optional artifact paths.", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """Show which artifacts changed between revisions.

    For directories, also which files inside them.
    """
    out = _out(ctx)
    result = api.diff_arguments(list(arguments or []), ".")
    if json_output:
        out.json(result)
    else:
        render.diff(out, result)


@app.command()
def log(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A tracked artifact, or a file inside a tracked directory.")],
    max_count: Annotated[int | None, typer.Option("-n", "--max-count", help="Show at most N entries.", min=1, show_default=False)] = None,
    rev: Annotated[str | None, typer.Option("--rev", help="Start from this Git revision instead of HEAD (e.g. a branch, when HEAD is detached at an old tag).", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """Show the commits that changed an artifact.

    Who, when, why, and what: one entry per commit.
    """
    out = _out(ctx)
    entries = api.log(path, ".", max_count, rev or "HEAD")
    if json_output:
        out.json(entries)
        return
    render.log(out, entries, path, rev, api.detached_head(".") if rev is None else None)


@app.command("ls")
def ls_command(
    ctx: typer.Context,
    rev: Annotated[str | None, typer.Option("--rev", help="List at this Git revision (default: the workspace pointers).", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """List the tracked artifacts.

    With size, file count, description and metadata.
    """
    out = _out(ctx)
    items = api.ls(rev, ".")
    if json_output:
        out.json(items)
    else:
        render.ls(out, items, rev)


@app.command()
def publish(
    ctx: typer.Context,
    arguments: Annotated[list[str], typer.Argument(metavar="[PATH...] REGISTRY/REPO:TAG", help="Artifacts to publish (default: every artifact of the revision), then the registry, repository and tag to publish them to.", show_default=False)],
    rev: Annotated[str | None, typer.Option("--rev", metavar="REV", help="The Git revision whose artifacts to publish (default: HEAD).", show_default=False)] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Talk plain HTTP to the registry (for a local test registry; credentials travel in the clear).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Move the tag if it already points to another manifest.")] = False,
    chunk_size: Annotated[str, typer.Option("--chunk-size", metavar="SIZE", help="Bytes per upload request, e.g. 16MiB (lower it behind a proxy that limits request bodies).")] = "64MiB",
    json_output: JsonOpt = False,
) -> None:
    """Publish the artifacts of a commit to an OCI registry.

    As one OCI artifact in the CNCF ModelPack format, traceable to the commit.
    """
    out = _out(ctx)
    *paths, reference = arguments
    result = api.publish(reference, paths or None, rev, ".", insecure, force, chunk_size, out.progress())
    if json_output:
        out.json(result)
    else:
        render.publish(out, result)


@app.command("install-hooks")
def install_hooks(ctx: typer.Context) -> None:
    """Install Git hooks that keep data in step with commits.

    Existing hooks are kept and chained. Also sets up the merge driver for pointer files.
    """
    render.hooks(_out(ctx), api.install_hooks("."))


@app.command("uninstall-hooks")
def uninstall_hooks(ctx: typer.Context) -> None:
    """Remove the hooks 'artver install-hooks' added.

    Also the merge driver's config; your own hooks stay.
    """
    render.uninstalled_hooks(_out(ctx), api.uninstall_hooks("."))


@app.command("hook", hidden=True)
def hook(
    name: Annotated[str, typer.Argument()],
    arguments: Annotated[list[str] | None, typer.Argument()] = None,
) -> None:
    """Run one Git hook's artver part (called by the installed hooks)."""
    stdin = sys.stdin.read() if name == "pre-push" and not sys.stdin.isatty() else ""
    result = api.hook(name, list(arguments or []), stdin, ".")
    render.hook(result)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def resolve(
    ctx: typer.Context,
    paths: Annotated[list[str] | None, typer.Argument(help="Conflicted artifacts (or their .art pointers); default: every pointer Git holds in conflict.", show_default=False)] = None,
    ours: Annotated[bool, typer.Option("--ours", help="Where both branches changed the same thing, keep our version (every other change of both is kept).")] = False,
    theirs: Annotated[bool, typer.Option("--theirs", help="Where both branches changed the same thing, keep their version.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Resolve pointer files a merge left in conflict.

    Merges them entry by entry again, or keeps one side (--ours, --theirs).
    """
    if ours and theirs:
        raise UsageError("choose either --ours or --theirs")
    out = _out(ctx)
    results = api.resolve(paths or None, ".", "ours" if ours else "theirs" if theirs else None)
    if json_output:
        out.json(results)
    else:
        render.resolve(out, results, api.work_tree("."))
    if any(result.action == "conflict" for result in results):
        raise typer.Exit(1)


@app.command("merge-driver", hidden=True)
def merge_driver(
    arguments: Annotated[list[str], typer.Argument(help="BASE OURS THEIRS MARKER-SIZE PATH, as Git passes them.")],
) -> None:
    """Git's merge driver for pointer files (set up by 'artver init' and 'artver install-hooks')."""
    if len(arguments) != 5:
        raise UsageError("merge-driver takes BASE OURS THEIRS MARKER-SIZE PATH (Git passes them; see 'git help gitattributes')")
    result = api.merge_driver(*arguments)
    render.merge_driver(result)
    if not result.clean:
        raise typer.Exit(1)


@app.command("check-large-files")
def check_large_files(
    ctx: typer.Context,
    files: Annotated[list[str] | None, typer.Argument(help="Files to check (default: the staged files).", show_default=False)] = None,
    max_size: Annotated[str, typer.Option("--max-size", help="Largest size allowed in Git, e.g. 10MiB.")] = "10MiB",
) -> None:
    """Refuse files too large for Git (a pre-commit check).

    Fails if files larger than --max-size are about to be committed to Git instead of artver.
    """
    limit = api.parse_size(max_size)
    found = api.check_large_files(list(files or []), limit, ".")
    render.large_files(found, limit)
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
    out = _out(ctx)

    def confirm(count: int, remote_url: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(f"gc --cloud would delete {count} object(s) from {remote_url}; add --yes to confirm")
        return typer.confirm(printable(f"Delete {count} object(s) from {remote_url}?"), default=False)

    result = api.gc(workspace, api.Revisions(tuple(rev or ()), all_branches, all_tags, all_commits), cloud, remote, force,
                    dry_run, confirm, ".")
    if json_output:
        out.json(result)
    else:
        render.gc(out, result)


@app.command()
def verify(
    ctx: typer.Context,
    paths: PathsArg = None,
    everything: Annotated[bool, typer.Option("--all", help="Check every object in the cache, not only those the workspace references.")] = False,
    remote: Annotated[str | None, typer.Option("-r", "--remote", help="Also download and check the objects in this remote.", show_default=False)] = None,
    jobs: JobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Re-hash cache objects; quarantine corrupt ones.

    With -r, also download and check the remote's copies.
    """
    out = _out(ctx)
    result = api.verify(paths, ".", everything, remote, jobs, out.progress())
    if json_output:
        out.json(result)
    else:
        render.verify(out, result)
    if not result.ok:
        raise typer.Exit(1)


@app.command("url")
def url_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The artifact, or a file inside a tracked directory.", show_default=False)],
    rev: Annotated[str | None, typer.Option("--rev", metavar="REV", help="The Git revision (default: the workspace pointers).", show_default=False)] = None,
    remote: RemoteOpt = None,
    expires: Annotated[str | None, typer.Option("--expires", metavar="DURATION", help="How long the link works: seconds, or e.g. 30m, 12h, 7d (at most 7d; default 1h).", show_default=False)] = None,
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
    seconds = None if storage_url else api.parse_duration(expires or "1h", "--expires")
    signed_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    url = api.get_url(path, rev, ".", remote, seconds)
    if json_output:
        expires_at = None
        if seconds is not None and not url.startswith("file:"):  # a file:// URL never expires
            expires_at = (signed_at + datetime.timedelta(seconds=seconds)).isoformat()
        relative = api.artifact_path(path)  # repository-relative, as in every --json
        _out(ctx).json({"path": relative, "rev": rev, "url": url, "expires_in": seconds, "expires_at": expires_at})
        return
    write_line(sys.stdout, url)


# --- get, import, update: artifacts of another artver repository (docs/handoff.md) -------------

SourceArg = Annotated[str, typer.Argument(metavar="SOURCE_REPO", help="The artver repository to read: a Git URL (https://, ssh://, git://, file://, host:path) or a local path. It is never checked out.", show_default=False)]
SourcePathArg = Annotated[str, typer.Argument(metavar="PATH", help="The artifact in that repository (or a file inside a tracked directory).", show_default=False)]
SourceRevOpt = Annotated[str | None, typer.Option("--rev", metavar="REV", help="A branch, tag or commit of the source (default: its default branch).", show_default=False)]


@app.command("get")
def get_command(
    ctx: typer.Context,
    source: SourceArg,
    path: SourcePathArg,
    output: Annotated[str | None, typer.Option("-o", "--out", metavar="OUT", help="Where to write it (default: the last name of PATH, here). Must not exist.", show_default=False)] = None,
    rev: SourceRevOpt = None,
    jobs: JobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Copy an artifact of another repository here.

    No pointer is written. Reads PATH's pointer and the source's committed remote settings at REV, fetches the data from
    the source's remote (credentials from your environment), verifies it and writes OUT.
    """
    out = _out(ctx)
    result = api.get(source, path, output, rev, ".", jobs, out.progress())
    if json_output:
        out.json(result)
    else:
        render.got(out, result)


@app.command("import")
def import_command(
    ctx: typer.Context,
    source: SourceArg,
    path: SourcePathArg,
    output: Annotated[str | None, typer.Option("-o", "--out", metavar="OUT", help="The artifact path here (default: the last name of PATH, here).", show_default=False)] = None,
    rev: SourceRevOpt = None,
    jobs: JobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Track an artifact of another repository.

    With its provenance. Fetches its data (verified) into the cache, writes OUT.art recording the source repository,
    revision, commit and path, and places the data. 'artver update' moves it to a newer commit.
    """
    out = _out(ctx)
    report = api.import_(source, path, output, rev, ".", jobs, out.progress())
    if json_output:
        out.json(report)
    else:
        render.imported(out, report, api.work_tree("."))
    if not report.ok:
        raise typer.Exit(1)


@app.command("update")
def update_command(
    ctx: typer.Context,
    paths: Annotated[list[str] | None, typer.Argument(metavar="[OUT...]", help="Imported artifacts (default: every import).", show_default=False)] = None,
    rev: Annotated[str | None, typer.Option("--rev", metavar="REV", help="Move to this revision of the source instead of the newest commit of the recorded one.", show_default=False)] = None,
    jobs: JobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Move imports to their source's newest commit.

    Or to another revision of the source (--rev). Shows what changed, as 'artver diff' does; commit the rewritten pointers.
    """
    out = _out(ctx)
    report = api.update(paths or None, rev, ".", jobs, out.progress())
    if json_output:
        out.json(report)
    else:
        render.updated(out, report, api.work_tree("."))
    if not report.ok:
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> int:
    args = _hoist_global_flags(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    verbose = any(arg in ("-v", "-vv", "--verbose") for arg in args)
    return error_handler.run(
        lambda: command.main(args=args, prog_name="artver", standalone_mode=False), verbose
    )
