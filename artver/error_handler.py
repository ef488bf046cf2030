"""Turns what goes wrong into one line on stderr and an exit code.

Exit codes: 0 success; 1 the command ran but something is not right (modified
artifacts with --check, objects missing, integrity errors, remote failures);
2 bad usage or input (arguments, paths, config, not a repository);
3 an internal error (a bug: please report it, -v shows the traceback);
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Callable

import typer

from artver.console import write_line
from artver.errors import ArtverError

INTERNAL_ERROR = 3
INTERRUPTED = 130


def _say(message: str) -> None:
    write_line(sys.stderr, f"artver: {message}")  # messages quote paths and text from untrusted pointers
    sys.stderr.flush()


_OS_HINTS = {
    errno.EACCES: "check the permissions of that path",
    errno.EPERM: "check the permissions of that path",
    errno.ENOSPC: "free some disk space and run the command again",
    errno.EDQUOT: "free some space (disk quota exceeded) and run the command again",
    errno.EROFS: "the filesystem is read-only",
    errno.EFBIG: "the file is larger than this filesystem or a resource limit allows",
    errno.ENAMETOOLONG: "shorten the name",
}


def describe_os_error(error: OSError) -> str:
    where = f": {error.filename}" if error.filename else ""
    hint = _OS_HINTS.get(error.errno or 0)
    reason = (error.strerror or str(error)).lower() if error.strerror else str(error)
    return f"{reason}{where}" + (f" ({hint}); nothing was left half-written" if hint else "")


def run(invoke: Callable[[], object], verbose: bool) -> int:
    try:
        result = invoke()
        if result == INTERRUPTED:  # the CLI framework turns Ctrl-C into exit code 130
            _say("interrupted; nothing half-written was left behind, run the command again to finish")
    except ArtverError as error:
        _say(f"error: {error}")
        return error.exit_code
    except typer.Abort:
        _say("interrupted; nothing half-written was left behind, run the command again to finish")
        return INTERRUPTED
    except typer.TyperException as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            sys.stdout.write(error.format_message().rstrip("\n") + "\n")
            return 0
        context = getattr(error, "ctx", None)
        path = context.command_path.split(" ", 1) if context is not None else []
        command = f" {path[1]}" if len(path) > 1 else ""
        _say(f"error: {error.format_message()} (see 'artver{command} --help')")
        return error.exit_code
    except KeyboardInterrupt:
        _say("interrupted; nothing half-written was left behind, run the command again to finish")
        return INTERRUPTED
    except BrokenPipeError:
        return 0
    except OSError as error:
        # The environment refused an operation (permissions, full disk, read-only filesystem):
        # the user's to fix, not a bug. Every write is atomic, so nothing was left half-done.
        _say(f"error: {describe_os_error(error)}")
        return 1
    except Exception as error:  # noqa: BLE001 - the last line of defence, so users never see a traceback
        if verbose:
            traceback.print_exc()
        first = str(error).splitlines()[0] if str(error) else ""
        _say(f"internal error: {type(error).__name__}: {first} (run with -v for details and please report it)")
        return INTERNAL_ERROR
    return result if isinstance(result, int) else 0
