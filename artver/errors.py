"""The one exception hierarchy of artver.

Every error a user can cause derives from ArtverError and carries a message fit
to show as one line, plus the exit code the CLI should use. The core raises
these; only the CLI (error_handler.py) turns them into output and exit codes.
"""

from __future__ import annotations


class ArtverError(Exception):
    """Base of all errors meant for a user. str(error) is the one-line message."""

    exit_code = 1


class UsageError(ArtverError):
    """A command was called with arguments that cannot work (bad path, bad option)."""

    exit_code = 2


class NotARepositoryError(ArtverError):
    """No Git work tree, or artver was not initialised in it."""

    exit_code = 2


class ConfigError(ArtverError):
    """The configuration is invalid or a setting is refused."""

    exit_code = 2


class PointerError(ArtverError):
    """A pointer file or directory listing is malformed or unsafe."""


class UnsafePathError(PointerError):
    """A path from a pointer or listing would escape its artifact or the repository."""


class PointerConflictError(PointerError):
    """A pointer file holds Git's conflict markers: a merge left it unresolved."""


class LockError(ArtverError):
    """Another artver process holds the repository lock."""


class CacheError(ArtverError):
    """The cache cannot be read or written."""


class SourceError(ArtverError):
    """A workspace file cannot be read, is not a regular file, or changed while it was read."""


class ObjectMissingError(CacheError):
    """An object a pointer references is not in the cache."""


class IntegrityError(ArtverError):
    """Content does not match the hash it is stored under."""


class GitError(ArtverError):
    """A Git repository or revision cannot be read."""


class RemoteError(ArtverError):
    """A remote cannot be reached or refuses an operation."""


class ObjectNotFoundError(RemoteError):
    """The remote has no object under the key (its bucket or directory does exist)."""


class ContainerNotFoundError(RemoteError):
    """The remote's bucket or top directory does not exist: nothing can be read or written
    there, so a command stops at once instead of reporting every object as missing."""


class AccessDeniedError(RemoteError):
    """The remote refused the credentials, or they lack a permission for the operation."""


class TransientRemoteError(RemoteError):
    """A remote failure worth retrying (reset, timeout, too slow, 5xx, throttling)."""


class RemoteGaveUpError(RemoteError):
    """Transient failures went on until the attempts ran out. The remote is then taken to be
    unavailable for the rest of the command, which stops instead of trying every object."""


class RemoteLockedError(ArtverError):
    """Another artver process holds a remote lock that this operation cannot share (a push
    against gc --cloud, or two gc --cloud); see artver/remote_lock.py."""


class RemoteLockLostError(ArtverError):
    """This process's remote lock could not be refreshed in time and may have been taken over
    as stale: the operation stops before changing the remote any further."""
