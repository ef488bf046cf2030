"""artver pull: fetch, then checkout (with checkout's safety rules)."""

from __future__ import annotations

from dataclasses import dataclass

from artver import file_lock
from artver.commands.checkout import CheckoutResult, checkout_unlocked
from artver.commands.fetch import fetch_unlocked
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo
from artver.scope import Revisions
from artver.transfer import TransferSummary


@dataclass(frozen=True)
class PullResult:
    fetch: TransferSummary
    checkout: CheckoutResult

    @property
    def ok(self) -> bool:
        return self.fetch.ok and self.checkout.ok


def pull(
    repo: Repo,
    paths: list[str] | None = None,
    remote: str | None = None,
    jobs: int | None = None,
    force: bool = False,
    progress: Progress = NO_PROGRESS,
) -> PullResult:
    with file_lock.locked(repo.lock_path, repo.lock_timeout):
        summary = fetch_unlocked(repo, paths, remote, jobs, Revisions(), progress)
        result = checkout_unlocked(repo, paths, force, progress)
    return PullResult(summary, result)
