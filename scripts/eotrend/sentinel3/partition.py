"""The pixel table partitioned by feature (``results/<dataset>/lakes/pixels.parquet``): one
feature's pixels of every scene read back without reading the others'.

The batches' pixel tables (:mod:`eotrend.sentinel3.batches`) hold a row group per scene,
every feature in it: one lake's series is then spread over every row group of every
batch. This table holds the same rows, columns and column metadata (each value column's
``unit``), sorted by feature (in the AOI's order), then time, scene, row and col, cut
into row groups that never hold part of two features unless a feature has more than
:data:`ROW_GROUP_ROWS` rows (then it has row groups of its own, of that many rows but
the last). scene and feature are dictionary-encoded strings with 32-bit indices (pandas
reads them as categoricals, as the batches'), the other columns as in the batches.

The file metadata ``eotrend`` holds JSON: ``scenes``, scene -> its description (as in a
batch's table, :func:`eotrend.sentinel3.batches.pixel_scenes` reads it), and
``features``, feature -> [first row, rows] (0-based, every AOI feature, in AOI order;
rows 0 for a feature no scene has a pixel of). With the row groups' sizes (the Parquet
footer) the index says which row groups hold a feature: :class:`FeaturePixels` reads
those alone.

The table is written in memory bounded by :data:`BLOCK_ROWS` rows, whatever its size: a
first pass counts each feature's rows (the feature column alone), features are cut into
blocks of consecutive features of at most that many rows (a larger feature is a block of
its own), a second pass reads the batches a row group (a scene) at a time and appends
each block's rows to a spill file of the block, and a last pass sorts each block (a
feature too large for a block streams in order, row group by row group) and writes it.
Every row is read twice and written twice.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from eotrend.core.atomic import atomic_path
from eotrend.core.errors import InputError

log = logging.getLogger(__name__)

ROW_GROUP_ROWS = 1 << 17
"""Most rows of a row group (about 10 MB of a two-variable table): one small lake's
pixels are one row group, a large lake's several."""

BLOCK_ROWS = 1 << 21
"""Most rows held in memory while the table is written (a block of features, sorted):
about 2 million, 150-200 MB with two variables."""

_DICTIONARY = ["scene", "feature"]
"""Columns read back from the spill files dictionary-encoded: a scene's name repeated on
each of its rows would take more memory than the rest of the row."""

_POS, _RANK = "__feature_position", "__scene_rank"
"""Sort keys kept in the spill files: the feature's position in the AOI, the scene's rank
in name order."""


@dataclass(frozen=True)
class _Chunk:
    """One row group of an input table: file, row group, its earliest time (int64 of the
    time column's unit) and its rows."""

    path: str
    group: int
    first_time: int
    rows: int


def write_feature_pixels(
    pixel_paths: list[str | Path],
    features: list[str],
    output: str | Path,
    *,
    block_rows: int = BLOCK_ROWS,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> dict[str, list[int]]:
    """Write the partitioned table ``output`` (atomically) of the pixel tables
    ``pixel_paths`` (batches' or single scenes'), whose features are named ``features``
    (the AOI's, in its order). Returns the index, feature -> [first row, rows].

    Args:
        pixel_paths: Parquet pixel tables with scene, time, feature, row and col columns
            and the ``eotrend`` metadata of scene descriptions.
        features: every AOI feature's name, in AOI order.
        output: the table to write.
        block_rows: most rows sorted in memory at once (see the module docstring).
        row_group_rows: most rows of an output row group.

    Raises:
        InputError: a pixel table holds a feature ``features`` lacks.
    """
    if block_rows < 1 or row_group_rows < 1:
        raise ValueError(
            f"block_rows and row_group_rows must be >= 1: {block_rows, row_group_rows}"
        )
    position = {name: k for k, name in enumerate(features)}
    schema, descriptions = _output_schema(pixel_paths)
    ranks = {name: k for k, name in enumerate(sorted(descriptions))}
    chunks, counts = _plan(pixel_paths, position)
    blocks = _blocks(counts, block_rows)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    index = {name: [int(first[k]), int(counts[k])] for k, name in enumerate(features)}
    metadata = {b"eotrend": json.dumps({"scenes": descriptions, "features": index}).encode()}
    log.info(
        "%d rows of %d features from %d row groups of %d tables: %d blocks of at most %d rows",
        int(counts.sum()),
        len(features),
        len(chunks),
        len(pixel_paths),
        len(blocks),
        block_rows,
    )
    with tempfile.TemporaryDirectory(dir=Path(output).parent, prefix=".partition-") as tmp:
        spills = _spill(chunks, blocks, position, ranks, schema, Path(tmp))
        with (
            atomic_path(output) as out,
            pq.ParquetWriter(out, schema.with_metadata(metadata)) as writer,
        ):
            for number, (low, high) in enumerate(blocks):
                if number not in spills:
                    continue
                if high - low == 1 and counts[low] > block_rows:
                    pieces = _stream_feature(spills[number])
                else:
                    pieces = iter([_sorted_block(spills[number])])
                _write_pieces(writer, pieces, counts[low:high], schema, row_group_rows)
    return index


def _output_schema(pixel_paths: list[str | Path]) -> tuple[pa.Schema, dict]:
    """The inputs' unified schema (field metadata kept) with dictionary columns widened
    to 32-bit indices, and scene -> description of every input."""
    from eotrend.sentinel3.batches import pixel_scenes

    descriptions: dict[str, dict] = {}
    schemas = []
    for path in pixel_paths:
        descriptions.update(pixel_scenes(path))
        schemas.append(pq.read_schema(path).remove_metadata())
    schema = pa.unify_schemas(schemas)
    fields = [
        field.with_type(pa.dictionary(pa.int32(), field.type.value_type))
        if pa.types.is_dictionary(field.type)
        else field
        for field in schema
    ]
    return pa.schema(fields), descriptions


def _codes(
    column: pa.ChunkedArray | pa.Array, lookup: dict[str, int], what: str, path
) -> np.ndarray:
    """int64 codes of a string (or dictionary) column through ``lookup``; InputError for a
    value it lacks."""
    if isinstance(column, pa.ChunkedArray):
        parts = [_codes(chunk, lookup, what, path) for chunk in column.chunks]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)
    array = column
    if not pa.types.is_dictionary(array.type):
        array = array.dictionary_encode()
    names = array.dictionary.to_pylist()
    missing = [name for name in names if name not in lookup]
    if missing:
        raise InputError(
            path,
            f"holds {what} the AOI lacks: {', '.join(map(str, missing[:5]))}",
            "Run the workflow again (the pixel tables are of another AOI).",
        )
    table = np.array([lookup[name] for name in names], dtype=np.int64)
    indices = array.indices.to_numpy(zero_copy_only=False)
    return table[indices] if len(table) else indices.astype(np.int64)


def _plan(
    pixel_paths: list[str | Path], position: dict[str, int]
) -> tuple[list[_Chunk], np.ndarray]:
    """Every non-empty row group of the inputs in time order, and each feature's rows
    (int64, AOI order), from the time and feature columns alone."""
    chunks = []
    counts = np.zeros(len(position), dtype=np.int64)
    for path in map(str, pixel_paths):
        source = pq.ParquetFile(path)
        for group in range(source.num_row_groups):
            rows = source.metadata.row_group(group).num_rows
            if rows == 0:
                continue
            part = source.read_row_group(group, columns=["time", "feature"])
            codes = _codes(part.column("feature"), position, "features", path)
            counts += np.bincount(codes, minlength=len(position))
            times = part.column("time").combine_chunks().cast(pa.int64()).to_numpy()
            chunks.append(_Chunk(path, group, int(times.min()), rows))
    chunks.sort(key=lambda c: (c.first_time, c.path, c.group))
    return chunks, counts


def _blocks(counts: np.ndarray, block_rows: int) -> list[tuple[int, int]]:
    """Runs [low, high) of consecutive features of at most ``block_rows`` rows together
    (a larger feature alone)."""
    blocks, low, total = [], 0, 0
    for k, rows in enumerate(counts):
        if k > low and total + rows > block_rows:
            blocks.append((low, k))
            low, total = k, 0
        total += int(rows)
    if len(counts):
        blocks.append((low, len(counts)))
    return blocks


def _spill(
    chunks: list[_Chunk],
    blocks: list[tuple[int, int]],
    position: dict[str, int],
    ranks: dict[str, int],
    schema: pa.Schema,
    folder: Path,
) -> dict[int, Path]:
    """Each block's rows, in chunk order, each chunk's sorted by feature, time, scene,
    row, col, into ``folder/<block>.parquet`` (scene and feature as plain strings, with
    the sort keys :data:`_POS` and :data:`_RANK`). Returns block -> its file (blocks
    without a row have none)."""
    starts = np.array([low for low, _ in blocks], dtype=np.int64)
    spill_schema = pa.schema(
        [
            field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field
            for field in schema
        ]
        + [pa.field(_POS, pa.int64()), pa.field(_RANK, pa.int64())]
    )
    writers: dict[int, pq.ParquetWriter] = {}
    files: dict[int, Path] = {}
    opened: dict[str, pq.ParquetFile] = {}
    try:
        for chunk in chunks:
            source = opened.setdefault(chunk.path, pq.ParquetFile(chunk.path))
            table = source.read_row_group(chunk.group)
            pos = _codes(table.column("feature"), position, "features", chunk.path)
            rank = _codes(table.column("scene"), ranks, "scenes", chunk.path)
            order = np.lexsort(
                (
                    table.column("col").to_numpy(),
                    table.column("row").to_numpy(),
                    rank,
                    table.column("time").combine_chunks().cast(pa.int64()).to_numpy(),
                    pos,
                )
            )
            table = table.select(schema.names).take(order)
            table = pa.Table.from_arrays(
                [
                    column.cast(spill_schema.field(name).type)
                    for name, column in zip(table.column_names, table.columns, strict=True)
                ]
                + [pa.array(pos[order]), pa.array(rank[order])],
                schema=spill_schema,
            )
            block_of = np.searchsorted(starts, pos[order], side="right") - 1
            cuts = np.flatnonzero(np.diff(block_of)) + 1
            for low, high in zip(
                np.concatenate([[0], cuts]), np.concatenate([cuts, [len(block_of)]]), strict=True
            ):
                number = int(block_of[low])
                if number not in writers:
                    files[number] = folder / f"{number}.parquet"
                    writers[number] = pq.ParquetWriter(files[number], spill_schema)
                writers[number].write_table(table.slice(low, high - low))
    finally:
        for writer in writers.values():
            writer.close()
    return files


def _sort_keys(table: pa.Table) -> tuple[np.ndarray, ...]:
    """The lexsort keys of a spill table: col, row, scene rank, time, feature position."""
    return (
        table.column("col").to_numpy(),
        table.column("row").to_numpy(),
        table.column(_RANK).to_numpy(),
        table.column("time").cast(pa.int64()).to_numpy(),
        table.column(_POS).to_numpy(),
    )


def _sorted_block(path: Path) -> pa.Table:
    """A block's spill file, sorted by feature, time, scene, row, col."""
    table = pq.read_table(path, read_dictionary=_DICTIONARY)
    return table.take(np.lexsort(_sort_keys(table)))


def _stream_feature(path: Path) -> Iterator[pa.Table]:
    """A one-feature block too large to sort in memory, row group by row group: each is
    sorted (the spill wrote the chunks in time order); rows that would go back in time
    across row groups are a bug, reported as such."""
    source = pq.ParquetFile(path, read_dictionary=_DICTIONARY)
    last = None
    for group in range(source.num_row_groups):
        table = source.read_row_group(group)
        keys = _sort_keys(table)
        order = np.lexsort(keys)
        first = (keys[3][order[0]], keys[2][order[0]])
        if last is not None and first < last:
            raise ValueError(f"{path}: row group {group} starts before the previous one ends")
        last = (keys[3][order[-1]], keys[2][order[-1]])
        yield table.take(order)


def _write_pieces(
    writer: pq.ParquetWriter,
    pieces: Iterator[pa.Table],
    counts: np.ndarray,
    schema: pa.Schema,
    row_group_rows: int,
) -> None:
    """Write the sorted rows of consecutive features (``counts`` rows each, coming as
    ``pieces``) as row groups of at most ``row_group_rows`` rows that hold whole features,
    a feature larger than that alone."""
    sizes = deque(_group_sizes(counts, row_group_rows))
    buffer: list[pa.Table] = []
    buffered = 0
    for piece in pieces:
        buffer.append(piece)
        buffered += piece.num_rows
        while sizes and buffered >= sizes[0]:
            table = pa.concat_tables(buffer)
            size = sizes.popleft()
            writer.write_table(_output(table.slice(0, size), schema), row_group_size=size)
            buffer, buffered = [table.slice(size)], table.num_rows - size
    if sizes or buffered:
        raise ValueError(f"{buffered} rows left over for row groups of {sizes}")


def _group_sizes(counts: np.ndarray, row_group_rows: int) -> list[int]:
    """Row group sizes for features of ``counts`` rows each, in order: consecutive
    features together up to ``row_group_rows`` rows, a larger feature in pieces of that
    many rows (the last smaller), no empty group."""
    sizes: list[int] = []
    current = 0
    for rows in map(int, counts):
        if rows > row_group_rows:
            if current:
                sizes.append(current)
                current = 0
            whole, rest = divmod(rows, row_group_rows)
            sizes += [row_group_rows] * whole + ([rest] if rest else [])
            continue
        if current + rows > row_group_rows:
            sizes.append(current)
            current = 0
        current += rows
    if current:
        sizes.append(current)
    return sizes


def _output(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A spill table's rows with the output's columns and types."""
    return pa.Table.from_arrays(
        [table.column(name).cast(schema.field(name).type) for name in schema.names],
        schema=schema,
    )


class FeaturePixels:
    """A partitioned pixel table opened once for many reads.

    Args:
        source: the table (a path, or a binary file object).

    Attributes:
        index: feature -> (first row, rows), every AOI feature in AOI order.
        scenes: scene -> description (as a batch table's).
    """

    def __init__(self, source: str | Path | BinaryIO) -> None:
        self.source = source
        self.file = pq.ParquetFile(source)
        metadata = self.file.schema_arrow.metadata or {}
        if b"eotrend" not in metadata:
            raise InputError(
                source, "is not a pixel table partitioned by feature", "Run the workflow again."
            )
        description = json.loads(metadata[b"eotrend"])
        if "features" not in description:
            raise InputError(
                source,
                "is a pixel table not partitioned by feature (a batch's?)",
                "Give results/<dataset>/lakes/pixels.parquet.",
            )
        self.index = {name: (int(a), int(b)) for name, (a, b) in description["features"].items()}
        self.scenes: dict[str, dict] = description["scenes"]
        sizes = [self.file.metadata.row_group(g).num_rows for g in range(self.file.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def row_groups(self, feature: str) -> list[int]:
        """The row groups holding ``feature``'s rows (none for a feature without pixels)."""
        first, rows = self._where(feature)
        if rows == 0:
            return []
        low = int(np.searchsorted(self._starts, first, side="right")) - 1
        high = int(np.searchsorted(self._starts, first + rows, side="left"))
        return list(range(low, high))

    def read(self, feature: str, columns: list[str] | None = None):
        """``feature``'s pixel rows (a pandas DataFrame, sorted by time, scene, row, col;
        none, with every column, when it has no pixel); ``columns`` limits the columns.
        Reads only :meth:`row_groups`."""
        return self.read_table(feature, columns).to_pandas()

    def read_table(self, feature: str, columns: list[str] | None = None) -> pa.Table:
        """As :meth:`read`, a pyarrow Table."""
        return pa.concat_tables(list(self.iter_tables(feature, columns)) or [self._empty(columns)])

    def iter_tables(self, feature: str, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """``feature``'s rows a row group at a time (pyarrow Tables, in order): memory
        bounded by a row group, for a feature of any size."""
        first, rows = self._where(feature)
        for group in self.row_groups(feature):
            table = self.file.read_row_group(group, columns=columns)
            start = max(first - int(self._starts[group]), 0)
            stop = min(first + rows - int(self._starts[group]), table.num_rows)
            yield table.slice(start, stop - start)

    def _where(self, feature: str) -> tuple[int, int]:
        if feature not in self.index:
            raise InputError(
                self.source,
                f"holds no feature {feature!r} (its AOI has {len(self.index)} features)",
                "Give the feature's id as the dataset's aoi_id column names it.",
            )
        return self.index[feature]

    def _empty(self, columns: list[str] | None) -> pa.Table:
        schema = self.file.schema_arrow
        names = schema.names if columns is None else columns
        return pa.schema([schema.field(n) for n in names]).empty_table()


def read_feature_pixels(
    source: str | Path | BinaryIO, feature: str, columns: list[str] | None = None
):
    """One feature's pixel rows of a partitioned pixel table (a pandas DataFrame; see
    :meth:`FeaturePixels.read`), reading only the row groups that hold them. To read
    many features, open the table once with :class:`FeaturePixels`."""
    return FeaturePixels(source).read(feature, columns)
