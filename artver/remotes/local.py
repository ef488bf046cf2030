"""A remote that is a directory: a local disk, or a mounted network share."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

from artver.errors import RemoteError
from artver.fsutil import TEMP_MARKER, publish_new
from artver.hashing import CHUNK_SIZE, ByteCallback


class LocalStorage:
    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self._folders: set[str] = set()  # created already: one mkdir per folder, not per object

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise RemoteError(f"{self.url}: directory {self.root} does not exist (create it, or fix the remote URL)")

    def exists(self, keys: Sequence[str]) -> dict[str, int]:
        self._check_root()
        found = {}
        for key in keys:
            try:
                found[key] = os.stat(f"{self.root}/{key}").st_size
            except (FileNotFoundError, NotADirectoryError):
                continue
        return found

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        self._check_root()
        directory, _, name_prefix = prefix.rpartition("/")
        start = self.root / directory if directory else self.root
        for dirpath, _dirnames, filenames in os.walk(start):
            relative_dir = Path(dirpath).relative_to(self.root).as_posix()
            for filename in filenames:
                if TEMP_MARKER in filename:
                    continue
                key = filename if relative_dir == "." else f"{relative_dir}/{filename}"
                if key.startswith(prefix):
                    try:
                        yield key, os.stat(os.path.join(dirpath, filename)).st_size
                    except FileNotFoundError:
                        continue

    def upload(self, key: str, source: Path, on_bytes: ByteCallback) -> None:
        final = f"{self.root}/{key}"
        folder = os.path.dirname(final)
        try:
            if folder not in self._folders:
                self._check_root()
                os.makedirs(folder, exist_ok=True)
                self._folders.add(folder)
            publish_new(str(source), final)  # never replaces an existing object
        except OSError as error:
            raise _translate(error, self.url, key) from None
        on_bytes(os.stat(final).st_size)

    def download(self, key: str, sink: BinaryIO, on_bytes: ByteCallback) -> None:
        try:
            with open(self.root / key, "rb", buffering=0) as source:
                while chunk := source.read(CHUNK_SIZE):
                    sink.write(chunk)
                    on_bytes(len(chunk))
        except OSError as error:
            raise _translate(error, self.url, key) from None

    def delete(self, key: str) -> None:
        try:
            (self.root / key).unlink(missing_ok=True)
        except OSError as error:
            raise _translate(error, self.url, key) from None

    def url_of(self, key: str) -> str:
        return str(self.root / key)


def _translate(error: OSError, url: str, key: str) -> RemoteError:
    if error.errno == errno.ENOENT:
        return RemoteError(f"{url}: object {key} does not exist")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return RemoteError(f"{url}: permission denied writing or reading {key}")
    if error.errno == errno.ENOSPC:
        return RemoteError(f"{url}: no space left on the device")
    return RemoteError(f"{url}: {error.strerror or error} ({key})")
