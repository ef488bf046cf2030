"""The CLI's words: every result the core returns, turned into lines for a person.

cli.py parses arguments, calls one artver.api function and hands its result here; this
module decides nothing about artifacts and calls nothing in the core. Every line goes
through console.Output (or console.write_line), which makes untrusted text printable.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from artver import hooks as hook_module
from artver.console import Output, relative_to_cwd, write_line
from artver.fsutil import human_size
from artver.hashing import short

LIST_LIMIT = 20  # lines of one list of paths shown without -v

# What to do about each state 'artver status' reports (the keys are status_states.State's
# values; tests/test_layers.py checks that every state but "clean" has one).
STATUS_HINTS = {
    "modified": "'artver add PATH' records the change, 'artver checkout PATH' (with --force) discards it",
    "missing": "'artver checkout' (or 'artver pull') restores the data",
    "not-in-cache": "the data is only in the workspace: 'artver add PATH' saves it again",
    "outdated": "the workspace still holds another revision's data because this revision's is not in the cache: "
                "'artver pull' fetches and checks it out (not 'artver add', which would record the other revision's data)",
}


def _quote(path: str) -> str:
    return shlex.quote(path)


def print_capped(out: Output, emit: Callable[[str], None], lines: list[str]) -> None:
    """Print a list of paths, at most LIST_LIMIT lines unless -v: a checkout of 20,000
    missing files must not bury the one line that says what to do."""
    shown = lines if out.verbose else lines[:LIST_LIMIT]
    for line in shown:
        emit(line)
    if len(shown) < len(lines):
        indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
        emit(f"{indent}... and {len(lines) - len(shown)} more (-v or --json for all)")


def _size_text(size: int | None) -> str:
    return "-" if size is None else human_size(size)


def _hash_text(value: str | None) -> str:
    return "-" if value is None else short(value)


def init(out: Output, result: Any) -> None:
    driver = [change for change in result.merge_driver if change.action != "unchanged"]
    if result.hooks:
        hooks(out, result.hooks)
    elif result.created:
        out.say("Tip: 'artver install-hooks' keeps data in step with git checkout, merge, commit and push.")
    if result.created:
        out.say(f"Initialised artver in {result.root} (hash: {result.algorithm}), with Git's merge driver for pointer files.")
        staged = " ".join(relative_to_cwd(result.root, path) for path in (".artver", ".gitattributes"))
        out.say(f"Commit its config:  git add {staged}")
    elif driver:
        out.say(f"artver is already initialised in {result.root} (hash: {result.algorithm}).")
        hooks(out, driver)
    else:
        out.say(f"artver is already initialised in {result.root} (hash: {result.algorithm}); nothing changed.")


def add(out: Output, results: Sequence[Any], root: Path) -> None:
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
        staged = " ".join(_quote(relative_to_cwd(root, path)) for path in dict.fromkeys(to_stage))
        out.say(f"To record this in Git:  git add {staged}")


def status(out: Output, results: Sequence[Any], dirty: Sequence[Any]) -> None:
    if not results:
        out.say("No artifacts are tracked here yet; start with 'artver add PATH'.")
        return
    if not dirty:
        out.say(f"All {len(results)} artifact{'s' if len(results) != 1 else ''} clean: the workspace matches the pointers.")
        return
    for result in dirty:
        detail = f" ({result.detail})" if result.detail else ""
        counts = ""
        if result.added or result.modified or result.deleted:
            counts = f" ({len(result.added)} added, {len(result.modified)} modified, {len(result.deleted)} deleted"
            counts += f", {len(result.outdated)} outdated)" if result.outdated else ")"
        elif result.outdated:
            counts = f" ({len(result.outdated)} file{'s' if len(result.outdated) != 1 else ''})"
        out.say(f"{result.state:13} {result.path}{counts}{detail}")
        shown = [f"    {label + ':':10} {item}" for label, items in
                 (("added", result.added), ("modified", result.modified), ("deleted", result.deleted),
                  ("outdated", result.outdated)) for item in items]
        print_capped(out, out.say, shown)
    for state in dict.fromkeys(result.state for result in dirty):
        out.detail(f"hint: {state}: {STATUS_HINTS[state]}")


def cloud_status(out: Output, results: Sequence[Any], incomplete: Sequence[Any]) -> None:
    if not results:
        out.say("No artifacts are tracked here yet.")
    elif not incomplete:
        out.say(f"All {len(results)} artifact{'s are' if len(results) != 1 else ' is'} complete in the remote.")
    else:
        for result in incomplete:
            detail = f"; {result.detail}" if result.detail else ""
            out.say(f"{result.state:17} {result.path} ({result.missing} of {result.objects} objects missing{detail})")
        out.detail("hint: 'artver push' uploads what is missing")


def checkout(out: Output, result: Any, after_fetch: bool = False) -> None:
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
        print_capped(out, out.warn, [f"    {path}" for path in result.unsaved])
    if result.missing:
        why = "they could not be fetched (see above)" if after_fetch else "run 'artver pull' to fetch them"
        out.warn(f"{len(result.missing)} object(s) are not in the cache; {why}:")
        print_capped(out, out.warn, [f"    {path}" for path in result.missing])
    if result.outdated:
        why = "it could not be fetched (see above)" if after_fetch else "run 'artver pull' to fetch it"
        out.warn(f"{len(result.outdated)} path(s) stayed at another revision: this revision's data is not in the cache; {why}:")
        print_capped(out, out.warn, [f"    {path}" for path in result.outdated])
    if result.corrupt:
        out.warn(f"{len(result.corrupt)} file(s) not checked out: their cache object was corrupt and is now quarantined; run 'artver pull' to get it again:")
        print_capped(out, out.warn, [f"    {path}" for path in result.corrupt])
    if result.git_tracked:
        out.warn(f"left {len(result.git_tracked)} path(s) untouched: Git tracks them (a path belongs to Git or to an artver pointer, not both; --force lets the pointer win):")
        print_capped(out, out.warn, [f"    {path}" for path in result.git_tracked])


def remove(out: Output, results: Sequence[Any], root: Path) -> None:
    to_stage: list[str] = []
    for result in results:
        out.say(f"stopped tracking {result.path}; its data stays in place")
        to_stage.append(result.pointer_path)
        if result.gitignore:
            to_stage.append(result.gitignore)
    staged = " ".join(_quote(relative_to_cwd(root, path)) for path in dict.fromkeys(to_stage))
    out.say(f"To record this in Git:  git add -A {staged}")


def transfer(out: Output, summary: Any, verb: str) -> None:
    if summary.transferred == 0 and not summary.failed:
        out.say(f"Everything is up to date: {summary.skipped} object{'s' if summary.skipped != 1 else ''} in {summary.remote}.")
    else:
        moved = human_size(summary.bytes)
        if summary.deduplicated:  # chunks of large files that did not have to move
            moved += f"; {human_size(summary.deduplicated)} more not sent, as chunks already there"
        out.say(
            f"{verb} {summary.transferred} object{'s' if summary.transferred != 1 else ''} ({moved}), "
            f"{summary.skipped} already there, {len(summary.failed)} failed; {summary.remote}."
        )
    for failure in summary.failed[:10]:
        out.warn(f"failed: {short(failure.object)}: {failure.error}")
    if len(summary.failed) > 10:
        out.warn(f"... and {len(summary.failed) - 10} more failures (--json lists them all)")


def pull(out: Output, result: Any) -> None:
    transfer(out, result.fetch, "Fetched")
    checkout(out, result.checkout, after_fetch=True)


def remote_added(out: Output, info: Any) -> None:
    out.say(f"Added remote '{info.name}' -> {info.url}{' (default)' if info.default else ''}.")


def remote_list(out: Output, remotes: Sequence[Any]) -> None:
    if not remotes:
        out.say("No remotes; add one with 'artver remote add NAME URL --default'.")
    for info in remotes:
        extra = "".join(f" {key}={value}" for key, value in info.settings.items() if key != "url")
        secrets = "".join(f" {key}=(set)" for key in info.secrets)
        out.say(f"{'*' if info.default else ' '} {info.name}\t{info.url}{extra}{secrets}")


def config(out: Output, setting: Any) -> None:
    default = f" (default: {setting.default})" if setting.default else ""
    if setting.action is not None:
        in_effect = setting.origin is not None and setting.origin.endswith(setting.changed)
        shown = f" = {setting.value}" if in_effect and setting.value not in (None, "(set)") else ""
        line = f"{setting.action.capitalize()} {setting.key}{shown} in {setting.changed}."
        if setting.value is None:
            line += f" It is not set now{default}."
        elif not in_effect:
            line += f" The value in effect is still {setting.value}, from {setting.origin}, which overrides it."
        out.say(line)
        return
    if setting.value is None:
        out.warn(f"{setting.key} is not set{default}")
        return
    write_line(sys.stdout, setting.value)  # the value alone, even with -q: for $(artver config KEY)
    out.detail(f"(from {setting.origin})")


def diff(out: Output, result: Any) -> None:
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
            print_capped(out, out.say, [f"    {marks[item.change]} {item.path}" for item in change.files])


def log(out: Output, entries: Sequence[Any], path: str, rev: str | None, detached: Any) -> None:
    if not entries:
        out.say(f"No commits change {path} yet" + (f" in the history of {rev}." if rev else "."))
    for entry in entries:
        what = entry.change if entry.change != "renamed" else f"renamed from {entry.old_path}"
        detail = f"{_size_text(entry.size)}  {_hash_text(entry.hash)}" if entry.hash else ""
        out.say(f"{entry.short}  {entry.date[:16].replace('T', ' ')}  {entry.author.split(' <')[0]}  {entry.subject}")
        out.say(f"          {what}  {detail}".rstrip())
    if detached is not None:
        out.say(detached.hint(path))


def ls(out: Output, items: Sequence[Any], rev: str | None) -> None:
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


def publish(out: Output, result: Any) -> None:
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


def hooks(out: Output, changes: Sequence[Any]) -> None:
    for change in changes:
        note = f" (your existing hook is kept as {change.hook}{hook_module.CHAINED_SUFFIX} and still runs)" if change.action == "chained" else ""
        where = f" as {change.file}, which the {change.hook} hook of another tool runs" if change.file else ""
        if change.hook == hook_module.ATTRIBUTES_FILE and change.action != "unchanged":
            note = f" ({hook_module.ATTRIBUTES_LINE}: commit it, so every clone merges pointer files with artver)"
        out.say(f"{change.action:9} {change.hook}{where}{note}")


def uninstalled_hooks(out: Output, changes: Sequence[Any]) -> None:
    for change in changes:
        out.say(f"{change.action:9} {change.hook}" + (f" (artver's part of {change.file})" if change.file else ""))
    if not changes:
        out.say("No artver hooks were installed.")


def hook(result: Any) -> None:
    """A Git hook's messages, on stderr (Git shows them to the user)."""
    for message in result.messages:
        write_line(sys.stderr, message)


def merge_driver(result: Any) -> None:
    if result.message:
        sys.stderr.write(f"artver: {result.message}\n")


def resolve(out: Output, results: Sequence[Any], root: Path) -> None:
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
        pointers = " ".join(_quote(relative_to_cwd(root, result.pointer_path)) for result in done)
        artifacts = " ".join(_quote(relative_to_cwd(root, result.path)) for result in done if result.action != "deleted")
        verb = "git add -A" if any(result.action == "deleted" for result in done) else "git add"
        out.say(f"Next: '{verb} {pointers}' marks {'it' if len(done) == 1 else 'them'} resolved" + (f"; 'artver checkout {artifacts}' updates the data (or 'artver pull {artifacts}' if files are missing)." if artifacts else "."))
    if len(done) != len(results):
        out.say("Still in conflict: rerun with --ours or --theirs to keep one side of what both branches changed.")


def large_files(found: Sequence[Any], limit: int) -> None:
    for item in found:
        write_line(
            sys.stderr,
            f"artver: {item.path} is {human_size(item.size)}, over the {human_size(limit)} limit for Git; "
            f"track it with 'artver add {_quote(item.path)}' (and 'git rm --cached {_quote(item.path)}' if already staged)",
        )


def gc(out: Output, result: Any) -> None:
    verb = "Would delete" if result.dry_run else "Deleted"
    out.say(f"{verb} {result.deleted} cache object(s) ({human_size(result.bytes)}); {result.referenced} referenced object(s) kept.")
    if result.remote:
        out.say(f"{verb} {len(result.remote_deleted)} object(s) from {result.remote}{':' if result.remote_deleted else '.'}")
        for hash_value in result.remote_deleted:
            out.say(f"    {hash_value}")


def verify(out: Output, result: Any) -> None:
    remote_part = f" and {result.remote_checked} in {result.remote}" if result.remote else ""
    out.say(f"Checked {result.checked} cache object(s){remote_part}: {'all intact' if result.ok else str(len(result.problems)) + ' problem(s)'}.")
    for problem in result.problems:
        used = f" (used by {', '.join(problem.artifacts[:3])}{' ...' if len(problem.artifacts) > 3 else ''})" if problem.artifacts else ""
        note = ", quarantined" if problem.object in result.quarantined else ""
        out.warn(f"{problem.where} object {problem.object} is {problem.problem}{note}{used}")
    for hint in result.repair:
        out.warn(f"to repair: {hint}")


# --- get, import, update, status --check-updates (another repository's artifacts) -------------


def _at(rev: str | None, commit: str) -> str:
    return f"{rev} ({commit[:8]})" if rev is not None else f"its default branch ({commit[:8]})"


def got(out: Output, result: Any) -> None:
    files = f", {result.files} files" if result.kind == "dir" else ""
    out.say(f"Got {result.path} from {result.source} at {_at(result.rev, result.commit)} into {result.output} "
            f"({human_size(result.size)}{files}).")


def imported(out: Output, report: Any, root: Path) -> None:
    result = report.result
    source = result.source
    files = f", {result.files} files" if result.kind == "dir" else ""
    out.say(f"Imported {source.path} from {source.repo} at {_at(source.rev, source.commit)} as {result.path} "
            f"({human_size(result.size)}{files}).")
    paths = [result.pointer_path] + ([result.gitignore] if result.gitignore else [])
    out.say(f"To record it: git add {' '.join(_quote(relative_to_cwd(root, path)) for path in paths)}")
    if not report.checkout.ok:
        checkout(out, report.checkout)


def updated(out: Output, report: Any, root: Path) -> None:
    if not report.updates:
        out.say("No imported artifacts to update.")
        return
    for result in report.updates:
        old, new = result.old_source, result.new_source
        if old.commit == new.commit:
            what = "rev changed, same commit" if old.rev != new.rev else "up to date"
            out.say(f"{result.path}: {what}: {new.repo} at {_at(new.rev, new.commit)}")
        else:
            out.say(f"{result.path}: updated from {_at(old.rev, old.commit)} to {_at(new.rev, new.commit)} of {new.repo}")
    if report.diff.changes:
        diff(out, report.diff)
    changed = [result.pointer_path for result in report.updates if result.changed]
    if changed:
        out.say(f"To record it: git add {' '.join(_quote(relative_to_cwd(root, path)) for path in changed)}")
    if not report.checkout.ok:
        checkout(out, report.checkout)


def import_checks(out: Output, checks: Sequence[Any]) -> None:
    if not checks:
        out.say("No imported artifacts.")
        return
    for check in checks:
        source = check.source
        if check.latest is None:
            out.warn(f"{check.path}: cannot check its source {source.repo}: {check.detail}")
        elif check.behind:
            out.say(f"{check.path}: behind its source: imported {source.commit[:8]}, "
                    f"{source.rev or 'the default branch'} is now at {check.latest[:8]}; "
                    f"'artver update {_quote(check.path)}' moves it")
        else:
            out.say(f"{check.path}: up to date with {source.repo} at {_at(source.rev, source.commit)}")
