"""An EPUB's zip archive, checked before anything is read and read with bounded memory.

A zip entry states how large it inflates, and can lie. `CheckedArchive(zf, book, size)` looks
at every entry's central-directory record first and refuses the archive (a one-line
`BookError` naming the book and the entry) when

* it has more than `MAX_ENTRIES` entries;
* an entry is password-encrypted, or uses a compression method other than stored or Deflate
  (the only two EPUB's container format allows; bzip2 and LZMA would also inflate one small
  read into gigabytes, see below);
* an entry declares more than `MAX_ENTRY_BYTES` (`MAX_MARKUP_BYTES` for a document: .xhtml,
  .html, .opf, .ncx, .svg ...);
* an entry inflating to `RATIO_MIN_BYTES` or more compresses better than `MAX_RATIO`:1, or
  the entries together do (so a bomb split into many small entries is caught too);
* the entries declare more than `MAX_TOTAL_BYTES` together, or more compressed bytes than the
  file holds (entries that share their data: the "overlapping" zip bomb).

Declared sizes are not trusted for memory. `zipfile` never returns more than an entry's
declared size, but `ZipFile.read` inflates the whole entry before it cuts it: an entry that
declares 1 KB and inflates to 300 MB costs 600 MB of memory before its CRC check fails. So
`read` pulls an entry in `CHUNK_BYTES` pieces (for Deflate, `zipfile` then inflates at most a
piece per call), stops at the entry's cap, and counts what the whole archive has handed out
against `MAX_READ_BYTES`.

An entry whose data would lie outside the file raises `zipfile.BadZipFile` (the loader's
"corrupt or not a zip archive"). Entry names never reach the file system (nothing is
extracted), so "../" names are harmless.
"""

from __future__ import annotations

import posixpath
import zipfile

from ..errors import BookError
from .limits import MAX_MARKUP_BYTES, human_size, size_over

# Real EPUBs hold tens to a few thousand files (a comic: one page image and one XHTML file
# per page). The corpus' largest has 39.
MAX_ENTRIES = 20_000
# The largest real entries are media: a high-resolution image (a few MB, rarely 20-30 MB), the
# audio track of a narrated (media-overlay) chapter, a video. The corpus' largest is 1.7 MB.
MAX_ENTRY_BYTES = 256_000_000
# Apple Books accepts EPUBs up to 2 GB, the most any store does; images and audio barely
# compress, so such a book inflates to about its own size. The corpus' largest total is 2.4 MB.
MAX_TOTAL_BYTES = 2_000_000_000
# Real text compresses 3-5:1 (corpus XHTML at most 5.4:1, its NCX 10:1); repetitive markup
# (big tables) perhaps 20:1; images and audio ~1:1. Deflate reaches ~1000:1 on zeros.
MAX_RATIO = 100
# Entries smaller than this cannot amplify enough to matter, whatever their ratio (a 20 kB
# file of spaces compresses 100:1 and hurts no one).
RATIO_MIN_BYTES = 1_000_000
# What all reads of one book may return together: its documents (a novel's are a few MB,
# the largest complete works' ~100 MB) and the cover candidates. Beyond this something reads
# the same entries again and again.
MAX_READ_BYTES = 512_000_000
CHUNK_BYTES = 1 << 20

ALLOWED_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
MARKUP_EXTENSIONS = frozenset(".xhtml .html .htm .xml .opf .ncx .svg .smil".split())
_BOMB = "refusing a possible zip bomb"


def shown(name: str) -> str:
    """An entry name safe for a one-line message: control characters replaced, shortened."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in name)
    return clean if len(clean) <= 120 else clean[:117] + "..."


def entry_limit(name: str) -> int:
    """The most bytes an entry may inflate to, by the kind its name says it is."""
    ext = posixpath.splitext(name.lower())[1]
    return MAX_MARKUP_BYTES if ext in MARKUP_EXTENSIONS else MAX_ENTRY_BYTES


class CheckedArchive:
    """A zip archive whose entries passed the checks above; `read` is bounded."""

    def __init__(self, zf: zipfile.ZipFile, book: str, archive_bytes: int):
        self._zf = zf
        self.book = book
        self.handed_out = 0  # bytes returned by `read` so far
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise BookError(
                f"{book} has {len(infos):,} files in its archive (limit {MAX_ENTRIES:,}); "
                f"{_BOMB}"
            )
        total = compressed = 0
        for info in infos:
            # zipfile seeks to these offsets as they are; bytes cut from the archive's start
            # make them negative (an OSError on seek), a lying record points past its end.
            if not 0 <= info.header_offset <= archive_bytes - info.compress_size:
                raise zipfile.BadZipFile(f"entry {shown(info.filename)} lies outside the archive")
            self._check_entry(info)
            total += info.file_size
            compressed += info.compress_size
        if total > MAX_TOTAL_BYTES:
            raise BookError(
                f"{book}: its files inflate to {size_over(total, MAX_TOTAL_BYTES)} together; "
                f"{_BOMB}"
            )
        if total >= RATIO_MIN_BYTES and total > MAX_RATIO * compressed:
            raise BookError(
                f"{book}: its files inflate {total // max(compressed, 1):,}:1 together, to "
                f"{human_size(total)} (limit {MAX_RATIO}:1); {_BOMB}"
            )
        if compressed > archive_bytes:
            raise BookError(
                f"{book}: its files claim {human_size(compressed)} of compressed data in a "
                f"{human_size(archive_bytes)} file (entries that overlap); {_BOMB}"
            )

    def _check_entry(self, info: zipfile.ZipInfo) -> None:
        what = f"{self.book}: entry {shown(info.filename)}"
        if info.flag_bits & 0x1:
            raise BookError(f"{what} is password-protected; e2a can't read it")
        if info.compress_type not in ALLOWED_METHODS:
            raise BookError(
                f"{what} uses zip compression method {info.compress_type} "
                "(EPUB allows only stored or Deflate)"
            )
        limit = entry_limit(info.filename)
        if info.file_size > limit:
            raise BookError(f"{what} inflates to {size_over(info.file_size, limit)}; {_BOMB}")
        if info.file_size >= RATIO_MIN_BYTES and info.file_size > MAX_RATIO * info.compress_size:
            ratio = info.file_size // max(info.compress_size, 1)
            raise BookError(
                f"{what} inflates {ratio:,}:1, to {human_size(info.file_size)} "
                f"(limit {MAX_RATIO}:1); {_BOMB}"
            )

    def namelist(self) -> list[str]:
        return self._zf.namelist()

    def __contains__(self, name: str) -> bool:
        try:
            self._zf.getinfo(name)
        except KeyError:
            return False
        return True

    def read(self, name: str, limit: int | None = None) -> bytes:
        """The inflated bytes of entry `name` (KeyError when there is none), at most `limit`
        bytes (default: `entry_limit(name)`), never more than the entry declares."""
        info = self._zf.getinfo(name)
        cap = entry_limit(name) if limit is None else limit
        what = f"{self.book}: entry {shown(name)}"
        if info.file_size > cap:
            raise BookError(f"{what} inflates to {size_over(info.file_size, cap)}; {_BOMB}")
        cap = info.file_size
        parts: list[bytes] = []
        got = 0
        with self._zf.open(info) as f:
            while chunk := f.read(min(CHUNK_BYTES, cap - got + 1)):
                got += len(chunk)
                if got > cap:  # zipfile stops at the declared size; never trust that alone
                    raise BookError(f"{what} inflates past its declared size; {_BOMB}")
                parts.append(chunk)
        self.handed_out += got
        if self.handed_out > MAX_READ_BYTES:
            raise BookError(
                f"{self.book}: reading it takes more than {human_size(MAX_READ_BYTES)}; {_BOMB}"
            )
        return b"".join(parts)
