"""Readers of word2vec text / binary and GloVe text files, for `WordVectors.load_word2vec_format`.

Both read the file in pieces into one preallocated float32 matrix, so loading 100k × 300 vectors
holds about the matrix in memory, not the file's bytes besides it (a text file is ~3x the matrix).
Every malformed input is a ValueError naming the file and the line (text) or word and byte (binary).
"""

from __future__ import annotations

import numpy as np

# Binary files are read in pieces of this many bytes; text files a line at a time.
_BINARY_CHUNK = 1 << 20


def parse_header(path, line: bytes, encoding: str) -> tuple[int, int]:
    fields = line.decode(encoding, errors="replace").split()
    try:
        if len(fields) != 2:
            raise ValueError
        n_words, dim = int(fields[0]), int(fields[1])
        if n_words < 0 or dim < 1:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"{path}, line 1: header must be 'num_words dim' (two non-negative integers), got {line[:80]!r}"
        ) from None
    return n_words, dim


def _scan_lines(path) -> tuple[bytes, int, int]:
    """(first line, number of lines, number of lines up to the last non-blank one) in one pass
    that keeps no line: a cheap read that lets the parse allocate the matrix once."""
    first, lines, last_content = b"", 0, 0
    with open(path, "rb") as fin:
        for lines, raw in enumerate(fin, start=1):
            if lines == 1:
                first = raw.rstrip(b"\n")
            if raw.strip():
                last_content = lines
    return first, lines, last_content


def read_text(path, no_header: bool, encoding: str, limit: int | None):
    """(words, [n, dim] float32 matrix, position → "line N") of a word2vec text or GloVe file."""
    first_line, _, end = _scan_lines(path)
    first = 0
    n_words = dim = None
    if not no_header:
        if not end or not first_line.strip():
            raise ValueError(f"{path}, line 1: missing 'num_words dim' header (use no_header=True for GloVe files)")
        n_words, dim = parse_header(path, first_line, encoding)
        first = 1
    # Trailing blank lines are harmless; a blank line among the vectors is not.
    body = max(0, end - first)
    wanted = body if n_words is None else n_words
    if limit is not None:
        wanted = min(wanted, limit)
    if body < wanted:
        raise ValueError(f"{path}, line {end + 1}: header says {n_words} words but the file ends after {body}")
    if n_words is not None and limit is None and body > n_words:
        raise ValueError(f"{path}, line {first + n_words + 1}: header says {n_words} words but the file has {body}")

    words: list[str] = []
    matrix = None if dim is None else np.empty((wanted, dim), dtype=np.float32)
    with open(path, "rb") as fin:
        if first:
            fin.readline()
        for position in range(wanted):
            line_no = first + position + 1
            raw = fin.readline().rstrip(b"\n")
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}, line {line_no}: not valid {encoding}: {err}") from None
            parts = text.rstrip().split(" ")
            if not parts[0]:
                raise ValueError(f"{path}, line {line_no}: empty line or missing word")
            if dim is None:  # a GloVe file: the first line sets the dimension
                dim = len(parts) - 1
                if dim < 1:
                    raise ValueError(f"{path}, line {line_no}: no vector values after the word {parts[0]!r}")
                matrix = np.empty((wanted, dim), dtype=np.float32)
            if len(parts) - 1 != dim:
                source = "the header says" if not no_header else "the first line has"
                raise ValueError(
                    f"{path}, line {line_no}: expected {dim + 1} columns (word and {dim} values, as {source}), "
                    f"found {len(parts)}"
                )
            try:
                matrix[position] = [float(value) for value in parts[1:]]
            except ValueError:
                bad = next(i for i, value in enumerate(parts[1:], start=2) if not _is_float(value))
                raise ValueError(f"{path}, line {line_no}: bad number {parts[bad - 1]!r} in column {bad}") from None
            words.append(parts[0])
    if matrix is None:
        matrix = np.zeros((0, dim or 0), dtype=np.float32)
    return words, matrix, lambda position: f"line {first + position + 1}"


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


class _Chunks:
    """A binary file read a piece at a time, addressed by absolute byte offsets."""

    def __init__(self, fin):
        self.fin = fin
        self.data = b""
        self.start = 0  # file offset of data[0]
        self.eof = False

    def ensure(self, end: int) -> bool:
        """Make bytes up to file offset `end` available; False when the file is shorter."""
        while self.start + len(self.data) < end and not self.eof:
            piece = self.fin.read(max(_BINARY_CHUNK, end - self.start - len(self.data)))
            self.eof = not piece
            self.data += piece
        return self.start + len(self.data) >= end

    def drop_before(self, offset: int) -> None:
        cut = offset - self.start
        if cut > _BINARY_CHUNK:  # keep the buffer small without copying it at every word
            self.data = self.data[cut:]
            self.start = offset

    def byte(self, offset: int) -> bytes:
        return self.data[offset - self.start : offset - self.start + 1] if self.ensure(offset + 1) else b""

    def find_space(self, offset: int) -> int:
        """The offset of the next space at or after `offset`, or -1."""
        while True:
            found = self.data.find(b" ", offset - self.start)
            if found >= 0:
                return self.start + found
            if not self.ensure(self.start + len(self.data) + 1):
                return -1

    def slice(self, begin: int, end: int) -> bytes:
        return self.data[begin - self.start : end - self.start]


def read_binary(path, encoding: str, limit: int | None):
    """(words, [n, dim] float32 matrix, position → "word #N (byte B)") of a word2vec binary file."""
    with open(path, "rb") as fin:
        header = fin.readline()
        if not header.endswith(b"\n"):
            raise ValueError(f"{path}, line 1: missing 'num_words dim' header line")
        n_words, dim = parse_header(path, header[:-1], encoding)
        wanted = n_words if limit is None else min(n_words, limit)
        width = 4 * dim
        chunks = _Chunks(fin)
        chunks.start = len(header)
        matrix = np.empty((wanted, dim), dtype=np.float32)
        offsets: list[int] = []
        words: list[str] = []
        pos = len(header)
        for entry in range(wanted):
            # word2vec.c ends each vector with a newline, gensim does not: accept both.
            while chunks.byte(pos) == b"\n":
                pos += 1
            chunks.drop_before(pos)
            offsets.append(pos)
            space = chunks.find_space(pos)
            if space < 0 or not chunks.ensure(space + 1 + width):
                raise ValueError(
                    f"{path}: header says {n_words} words but the file ends after {entry} "
                    f"(truncated at word #{entry + 1}, byte {pos})"
                )
            raw_word = chunks.slice(pos, space)
            if not raw_word:
                raise ValueError(f"{path}, word #{entry + 1} (byte {pos}): empty word")
            try:
                words.append(raw_word.decode(encoding))
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}, word #{entry + 1} (byte {pos}): not valid {encoding}: {err}") from None
            matrix[entry] = np.frombuffer(chunks.data, dtype="<f4", count=dim, offset=space + 1 - chunks.start)
            pos = space + 1 + width
        if limit is None:
            chunks.ensure(pos + 1)
            rest = chunks.slice(pos, chunks.start + len(chunks.data)) + fin.read()
            if rest.strip():
                raise ValueError(
                    f"{path}, byte {pos}: header says {n_words} words but the file has more data after them"
                )
    return words, matrix, lambda position: f"word #{position + 1} (byte {offsets[position]})"
