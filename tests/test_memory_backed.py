"""write_outputs writes serially where the output directory is kept in memory (tmpfs,
ramfs), since its writer threads only overlap fsync waits that memory does not have;
``is_memory_backed`` decides that from the mount table. Expected values by hand from the
mountinfo lines below (format: proc(5))."""

from __future__ import annotations

from pathlib import Path

import pytest

from partcfg.commands import atomic_write
from partcfg.commands.atomic_write import is_memory_backed, write_outputs

MOUNTINFO = "\n".join([
    "22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda rw",
    "25 22 0:21 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw",
    "30 25 252:2 / /dev/shm/disk rw,relatime shared:9 - ext4 /dev/vdb rw",
    "31 22 0:40 / /mnt/my\\040ram rw shared:10 - ramfs ramfs rw",
    "32 22 0:41 / /var rw shared:11 - tmpfs tmpfs rw",
    "33 22 252:3 / /var rw shared:12 - xfs /dev/vdc rw",   # mounted over the tmpfs
])


@pytest.mark.parametrize("path, expected", [
    ("/dev/shm", True),
    ("/dev/shm/out/a", True),
    ("/dev/shm/disk/out", False),       # a disk mounted below the tmpfs
    ("/dev/shmem/out", False),          # a name that only starts like the mount point
    ("/home/user/out", False),
    ("/mnt/my ram/out", True),          # a mount point with an escaped space
    ("/var/out", False),                # the later mount over the same point wins
])
def test_memory_backed_is_the_longest_mount_point_containing_the_path(path, expected):
    assert is_memory_backed(Path(path), MOUNTINFO) is expected


def test_outputs_in_memory_are_written_without_threads(tmp_path, monkeypatch):
    import concurrent.futures
    used: list[int] = []
    real = concurrent.futures.ThreadPoolExecutor

    def counting(*args, **kwargs):
        used.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", counting)
    outputs = {f"c{i}/f.bin": bytes([i]) for i in range(atomic_write.PARALLEL_WRITES_FROM)}
    for memory, threads in ((True, []), (False, [1])):
        monkeypatch.setattr(atomic_write, "is_memory_backed", lambda path, m=memory: m)
        out = tmp_path / str(memory)
        write_outputs(out, outputs)
        assert (out / "c7" / "f.bin").read_bytes() == b"\x07"
        assert used == threads
        used.clear()
