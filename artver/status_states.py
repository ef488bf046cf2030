"""The states 'artver status' reports, in a module of their own: the CLI compares results
with them through artver.api, and importing the status command itself would load the
cache and stat-database code into every command's start-up."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """What ``artver status`` says of an artifact. A StrEnum: results compare equal to, format
    as and serialise to JSON as the plain strings."""

    CLEAN = "clean"
    MODIFIED = "modified"
    MISSING = "missing"  # not in the workspace
    NOT_IN_CACHE = "not-in-cache"  # the workspace matches, but the cache lacks an object
    # The workspace holds another revision's data (content the cache has), and the cache lacks
    # this revision's: 'artver pull' brings it; 'artver add' would record the wrong revision.
    OUTDATED = "outdated"


class CloudState(StrEnum):
    """What ``artver status --cloud`` says of an artifact (see State)."""

    IN_REMOTE = "in-remote"
    PARTLY_IN_REMOTE = "partly-in-remote"
    NOT_IN_REMOTE = "not-in-remote"
