"""The one bounded file read (partcfg.load.bounded): at most ``limit`` bytes, directories
refused, an oversized regular file refused before reading, an endless stream after
``limit`` + 1 bytes. Sizes are hand-picked around the limit."""

from __future__ import annotations

import os

import pytest

from partcfg.load.bounded import TooLarge, bounded_bytes_of


def test_a_file_up_to_the_limit_is_read_whole(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 16)
    assert bounded_bytes_of(path, 16) == b"x" * 16


def test_a_regular_file_one_byte_over_is_refused_with_its_size(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 17)
    with pytest.raises(TooLarge) as caught:
        bounded_bytes_of(path, 16)
    assert (caught.value.limit, caught.value.size) == (16, 17)


def test_a_sparse_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "sparse"
    with open(path, "wb") as handle:
        handle.truncate(1 << 40)        # 1 TiB of holes: reading it would take hours
    with pytest.raises(TooLarge) as caught:
        bounded_bytes_of(path, 1 << 20)
    assert caught.value.size == 1 << 40


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_stream_is_refused_after_limit_plus_one_bytes():
    with pytest.raises(TooLarge) as caught:
        bounded_bytes_of("/dev/zero", 4096)
    assert caught.value.size is None


def test_a_directory_is_refused_as_such(tmp_path):
    with pytest.raises(IsADirectoryError):
        bounded_bytes_of(tmp_path, 16)


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        bounded_bytes_of(tmp_path / "absent", 16)


def test_the_input_reader_reports_an_oversized_file_with_its_size(tmp_path):
    from partcfg.diagnostics import InputError
    from partcfg.load.files import file_bytes_of

    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (2 << 20) + b"\n")
    with pytest.raises(InputError) as caught:
        file_bytes_of(path, 1 << 20, "YAML file")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.rule == "IO-TOO-BIG"
    assert f"({(2 << 20) + 1} bytes) is larger than a YAML file partcfg reads (1 MiB at most)" \
        in diagnostic.message
