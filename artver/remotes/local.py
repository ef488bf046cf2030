"""A remote that is a directory: a local disk, or a mounted network share."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from stat import S_ISREG

from artver.errors import AccessDeniedError, ContainerNotFoundError, ObjectNotFoundError, RemoteError
from artver.fsutil import TEMP_MARKER, publish_new, temp_name_beside
from artver.hashing import CHUNK_SIZE, ByteCallback
from artver.remotes.base import Sink, check_range


class LocalStorage:
    def __init__(self, root: Path, url: str, share_inodes: bool = False) -> None:
        self.root = root
        self._root_text = str(root)
        self.url = url
        self._folders: set[str] = set()  # created already: one mkdir per folder, not per object
        # Objects are immutable and read-only on both sides, so where the cache and the remote
        # share a filesystem an object can have one inode and two names instead of two copies.
        self._share_inodes = share_inodes
        self._devices: dict[str, int] = {}  # folder -> st_dev, asked once per folder

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise ContainerNotFoundError(f"{self.url}: directory {self.root} does not exist (create it, or fix the remote URL)")

    def exists(self, keys: Sequence[str]) -> dict[str, int | None]:
        self._check_root()
        found: dict[str, int | None] = {}
        for key in keys:
            try:
                found[key] = os.stat(f"{self._root_text}/{key}").st_size
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as error:
                raise self._translate(error, key) from None
        return found

    def list(self, prefix: str) -> Iterator[tuple[str, int | None]]:
        self._check_root()
        directory, _, name_prefix = prefix.rpartition("/")
        yield from _walk(f"{self._root_text}/{directory}" if directory else self._root_text,
                         f"{directory}/" if directory else "", name_prefix)

    def upload(self, key: str, source: str, on_bytes: ByteCallback) -> None:
        final = f"{self._root_text}/{key}"
        folder = os.path.dirname(final)
        try:
            if folder not in self._folders:
                self._check_root()
                os.makedirs(folder, exist_ok=True)
                self._folders.add(folder)
            copied = self._link_new(source, final)
            if copied is None:
                copied = publish_new(source, final)  # never replaces an existing object
            size = os.stat(source).st_size if copied is None else copied  # None: the key existed already
        except OSError as error:
            raise self._translate(error, key) from None
        on_bytes(size)

    def create_new(self, key: str, data: bytes) -> bool:
        """Write ``data`` to a temp file beside the key, then link(2) it under the key: the
        kernel refuses an existing name (EEXIST), atomically, also on NFS, and the object
        appears whole or not at all. A killed process may leave the temp file (ignored by
        listings), never a partial object."""
        final = f"{self._root_text}/{key}"
        try:
            self._check_root()
            os.makedirs(os.path.dirname(final), exist_ok=True)
            temp = temp_name_beside(final)
            fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o444)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)  # whole on disk before it has its name
                finally:
                    os.close(fd)
                os.link(temp, final)
            except FileExistsError:
                return False
            finally:
                os.unlink(temp)
        except OSError as error:
            raise self._translate(error, key) from None
        return True

    def list_modified(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Keys under ``prefix`` with their files' mtimes (set by the machine, or the file
        server, that wrote them)."""
        self._check_root()
        directory, _, name_prefix = prefix.rpartition("/")
        for key, stat in _walk_stats(f"{self._root_text}/{directory}" if directory else self._root_text,
                                     f"{directory}/" if directory else "", name_prefix):
            yield key, stat.st_mtime

    def _device_of(self, folder: str) -> int:
        device = self._devices.get(folder)
        if device is None:
            device = self._devices[folder] = os.stat(folder).st_dev
        return device

    def _link_new(self, source: str, final: str) -> int | None:
        """Hard-link a cache object into the remote, if allowed and on the same filesystem:
        the object's size, or None to copy instead. An existing name is kept (EEXIST)."""
        if not self._share_inodes:
            return None
        stat = os.stat(source)
        if stat.st_dev != self._device_of(os.path.dirname(final)) or stat.st_mode & 0o222:
            return None
        try:
            os.link(source, final)
        except FileExistsError:
            return stat.st_size
        except OSError as error:
            if error.errno in _CANNOT_LINK:
                return None
            raise
        return stat.st_size

    def link_to(self, key: str, target: str) -> bool:
        """Give the object a second name ``target`` (a hard link) instead of copying it, if
        allowed, on the same filesystem and read-only; False if the caller must copy."""
        if not self._share_inodes:
            return False
        source = f"{self._root_text}/{key}"
        try:
            stat = os.lstat(source)
            if not S_ISREG(stat.st_mode) or stat.st_mode & 0o222 \
                    or stat.st_dev != self._device_of(os.path.dirname(target)):
                return False
            os.link(source, target)
        except OSError as error:
            if error.errno in _CANNOT_LINK:
                return False
            raise self._translate(error, key) from None
        if os.lstat(target).st_ino != stat.st_ino:  # replaced in between: copy instead
            os.unlink(target)
            return False
        return True

    def _open(self, key: str) -> int:
        try:
            return os.open(f"{self._root_text}/{key}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            raise self._translate(error, key) from None

    def _read(self, fd: int, key: str, size: int, offset: int) -> bytes:
        try:
            return os.pread(fd, size, offset)
        except OSError as error:
            raise self._translate(error, key) from None

    def download(self, key: str, sink: Sink, on_bytes: ByteCallback) -> None:
        fd = self._open(key)
        try:
            offset = 0
            while chunk := self._read(fd, key, CHUNK_SIZE, offset):
                offset += len(chunk)
                sink.write(chunk)  # its errors are the caller's: not translated
                on_bytes(len(chunk))
        finally:
            os.close(fd)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        check_range(offset, length)
        fd = self._open(key)
        try:
            parts = []
            while length > 0 and (chunk := self._read(fd, key, length, offset)):
                parts.append(chunk)
                offset += len(chunk)
                length -= len(chunk)
            return b"".join(parts)
        finally:
            os.close(fd)

    def delete(self, key: str) -> None:
        try:
            os.unlink(f"{self._root_text}/{key}")
        except (FileNotFoundError, NotADirectoryError):
            self._check_root()  # a missing key is no error, a missing remote is
        except OSError as error:
            raise self._translate(error, key) from None

    def url_of(self, key: str) -> str:
        return str(self.root / key)

    def presigned_url(self, key: str, expires: int) -> str:
        """The object's file:// URL, every unsafe character percent-quoted. It grants
        nothing: whoever opens it needs read access to the file already, and it never
        expires (``expires`` is only checked, by the caller, for the same range as elsewhere)."""
        return Path(os.path.abspath(self.root / key)).as_uri()

    def _translate(self, error: OSError, key: str) -> RemoteError:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            self._check_root()
            return ObjectNotFoundError(f"{self.url}: object {key} does not exist")
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return AccessDeniedError(f"{self.url}: permission denied writing or reading {key}")
        if error.errno == errno.ENOSPC:
            return RemoteError(f"{self.url}: no space left on the device")
        return RemoteError(f"{self.url}: {error.strerror or error} ({key})")


def _walk(folder: str, key_prefix: str, name_prefix: str = "") -> Iterator[tuple[str, int]]:
    """Every file below ``folder`` whose name there starts with ``name_prefix``, as
    (key, size); folders whose name does not match are not entered."""
    for key, stat in _walk_stats(folder, key_prefix, name_prefix):
        yield key, stat.st_size


def _walk_stats(folder: str, key_prefix: str, name_prefix: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """As _walk, with each file's stat."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if not entry.name.startswith(name_prefix) or TEMP_MARKER in entry.name:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk_stats(entry.path, f"{key_prefix}{entry.name}/")
            elif entry.is_file(follow_symlinks=False):
                yield f"{key_prefix}{entry.name}", entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue


# Why a hard link can fail where a copy would not: another filesystem, a filesystem without
# hard links, too many links, or protected_hardlinks (a file of another user).
_CANNOT_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EACCES})


# Filesystems whose every operation is a network round trip: parallel transfers hide the
# latency. On a local disk the work is CPU and kernel time, which threads only contend for.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
    "beegfs", "davfs", "ncpfs",
})


def filesystem_type(path: Path, mountinfo: str | None = None) -> str | None:
    """The type of the filesystem holding ``path``, from /proc/self/mountinfo (or the text
    given), or None where that is not known (not Linux)."""
    try:
        target = os.path.realpath(path)
        if mountinfo is None:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
                mountinfo = handle.read()
    except OSError:
        return None
    best, best_type = "", None
    for line in mountinfo.splitlines():
        fields, _, after = line.partition(" - ")
        parts = fields.split(" ")
        if len(parts) < 5 or not after:
            continue
        mount_point = _unescape_mount(parts[4])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):  # later mounts on the same point hide earlier ones
            best, best_type = mount_point, after.split(" ", 1)[0]
    return best_type


def is_network_filesystem(path: Path, mountinfo: str | None = None) -> bool:
    kind = filesystem_type(path, mountinfo)
    # FUSE mounts are mostly network ones (sshfs, rclone, s3fs...); fuseblk is a local disk.
    return kind is not None and (kind in NETWORK_FILESYSTEMS or kind == "fuse" or kind.startswith("fuse."))


def _unescape_mount(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    if "\\" not in field:
        return field
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)
