from __future__ import annotations

import os
import sys

import pytest

from csresearch.memory import _libc, release_freed_memory


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux") or _libc() is None or not hasattr(_libc(), "malloc_trim"),
                    reason="malloc_trim is glibc's (Linux); elsewhere release_freed_memory does nothing")
def test_freed_heap_goes_back_to_the_system():
    # 300k blocks of 1 kB (over pymalloc's 512 bytes: glibc's heap) freed, with one block kept in
    # each 64 so glibc cannot shrink its heap from the top by itself: only malloc_trim returns the pages
    blocks = [bytes(1000 + i % 7) for i in range(300_000)]
    keep = blocks[::64]
    del blocks
    before = _rss_mb()
    release_freed_memory()
    after = _rss_mb()
    assert before - after > 100, (before, after)
    assert len(keep) == 4688


def test_release_is_harmless_when_called_again():
    release_freed_memory()
    release_freed_memory()
