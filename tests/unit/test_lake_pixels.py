"""The pixel table partitioned by feature (eotrend.sentinel3.partition) against oracles
computed here with pandas and pyarrow alone: batch pixel tables made by the workflow's own
writers (extract.write_pixels per scene, batches.write_pixels per batch) from random
pixels, then

* the partitioned table holds exactly the batches' rows (as a set), sorted by feature in
  the AOI's order, time, scene, row, col, with the batches' columns, dtypes, units and
  scene descriptions, whatever the block and row-group sizes (blocks of one feature
  larger than a block included);
* its index is each feature's first row and row count, counted here;
* a row group holds whole features unless a feature alone exceeds the row-group size;
* the reader returns a feature's rows, reading no byte outside the footer and the
  column chunks of the row groups the feature's rows lie in (a file object that records
  every byte range read, against the row groups' byte ranges in the Parquet footer).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from eotrend.core.errors import InputError
from eotrend.sentinel3 import batches
from eotrend.sentinel3.extract import SceneExtract, write_pixels
from eotrend.sentinel3.partition import FeaturePixels, read_feature_pixels, write_feature_pixels
from eotrend.sentinel3.pixel_table import PixelTable

# AOI order on purpose not alphabetical; "empty" has no pixel in any scene, "big" many.
FEATURES = ["zeta", "big", "alpha", "empty", "10", "mid"]
PIXELS_PER_SCENE = {"zeta": 3, "big": 40, "alpha": 0, "empty": 0, "10": 7, "mid": 11}
COLUMN = "TSM_NN_g.m-3"
START = datetime(2020, 1, 1, 13, 50, tzinfo=UTC)


def scene_name(k: int) -> str:
    when = START + timedelta(days=7 * k)
    stamp = when.strftime("%Y%m%dT%H%M%S")
    return f"S3{'AB'[k % 2]}_OL_2_WFR____{stamp}_{stamp}_{stamp}_0179_001_001_0001_MAR_O_NT_003"


def scene_table(k: int, rng: np.random.Generator) -> SceneExtract:
    """Scene k's pixels: per feature a random count around PIXELS_PER_SCENE, random
    distinct (row, col), ordered by feature then row, col as extract orders them."""
    name = scene_name(k)
    frames = []
    for feature in FEATURES:
        n = int(rng.integers(0, 2 * PIXELS_PER_SCENE[feature] + 1))
        flat = rng.choice(10_000, size=n, replace=False)
        rows, cols = np.divmod(np.sort(flat), 100)
        frames.append(
            pd.DataFrame(
                {
                    "feature": feature,
                    "row": rows.astype(np.int32),
                    "col": cols.astype(np.int32),
                    "lon": rng.uniform(-61, -60, n),
                    "lat": rng.uniform(-4, -3, n),
                    COLUMN: rng.uniform(0, 30, n).astype(np.float32),
                    "flags": rng.integers(0, 2**40, n).astype(np.uint64),
                    "valid": rng.random(n) < 0.8,
                }
            )
        )
    pixels = pd.concat(frames, ignore_index=True)
    pixels.insert(0, "scene", pd.Categorical([name] * len(pixels), categories=[name]))
    when = START + timedelta(days=7 * k)
    pixels.insert(
        1, "time", pd.Series(pd.Timestamp(when), index=pixels.index).astype("datetime64[us, UTC]")
    )
    pixels["feature"] = pd.Categorical(pixels["feature"], categories=FEATURES)
    return SceneExtract(
        name,
        when,
        PixelTable.from_pandas(pixels, name, when),
        {"TSM_NN": COLUMN},
        {"TSM_NN": "g.m-3"},
        flag_variable="WQSF",
        flag_masks={"WATER": 4},
    )


@pytest.fixture(scope="module")
def batch_tables(tmp_path_factory) -> list[Path]:
    """Three batches (scenes in sensing order, 4, 3 and 2 of them) written as the workflow
    writes them; one scene without any pixel."""
    folder = tmp_path_factory.mktemp("batches")
    rng = np.random.default_rng(7)
    paths, k = [], 0
    for b, size in enumerate((4, 3, 2)):
        scenes = []
        for _ in range(size):
            extract = scene_table(k, rng)
            if k == 5:
                extract = SceneExtract(
                    extract.scene,
                    extract.time,
                    PixelTable.from_pandas(
                        extract.pixels.to_pandas().iloc[:0], extract.scene, extract.time
                    ),
                    extract.columns,
                    extract.units,
                )
            path = folder / f"scene{k}.parquet"
            write_pixels(path, extract)
            scenes.append(path)
            k += 1
        paths.append(folder / f"{b:04d}.parquet")
        batches.write_pixels(scenes, paths[-1])
    return paths


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as strings, index reset: frames compared by their values."""
    out = frame.reset_index(drop=True).copy()
    for column in ("scene", "feature"):
        out[column] = out[column].astype(str)
    return out


def oracle(paths: list[Path]) -> pd.DataFrame:
    """The batches' rows sorted as the partitioned table must hold them (pandas)."""
    rows = plain(pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True))
    rows["_pos"] = rows["feature"].map({name: k for k, name in enumerate(FEATURES)})
    rows = rows.sort_values(["_pos", "time", "scene", "row", "col"], kind="stable")
    return rows.drop(columns="_pos").reset_index(drop=True)


@pytest.mark.parametrize(
    ("block_rows", "row_group_rows"),
    [(10**7, 10**6), (150, 40), (1, 7), (60, 1000)],
    ids=["one-block", "blocks-and-groups", "feature-per-block", "big-feature-streamed"],
)
def test_the_table_holds_the_batches_rows_sorted_with_its_index(
    batch_tables, tmp_path, block_rows, row_group_rows
):
    output = tmp_path / "pixels.parquet"
    index = write_feature_pixels(
        batch_tables, FEATURES, output, block_rows=block_rows, row_group_rows=row_group_rows
    )
    expected = oracle(batch_tables)
    pd.testing.assert_frame_equal(plain(pd.read_parquet(output)), expected)
    counts = expected["feature"].value_counts()
    first = 0
    for name in FEATURES:
        rows = int(counts.get(name, 0))
        assert index[name] == [first, rows], name
        first += rows
    assert FeaturePixels(output).index == {k: tuple(v) for k, v in index.items()}
    assert counts["big"] > 60  # the big feature is larger than a block in the last case


@pytest.mark.parametrize("row_group_rows", [7, 40, 300])
def test_row_groups_hold_whole_features_unless_one_is_larger(
    batch_tables, tmp_path, row_group_rows
):
    output = tmp_path / "pixels.parquet"
    write_feature_pixels(
        batch_tables, FEATURES, output, block_rows=100, row_group_rows=row_group_rows
    )
    counts = oracle(batch_tables)["feature"].value_counts()
    source = pq.ParquetFile(output)
    seen_in: dict[str, list[int]] = {}
    for group in range(source.num_row_groups):
        names = source.read_row_group(group, columns=["feature"]).column(0).to_pylist()
        assert 0 < len(names) <= row_group_rows
        for name in set(names):
            seen_in.setdefault(name, []).append(group)
        if len(set(names)) > 1:  # several features: each whole, none larger than a group
            assert all(names.count(n) == counts[n] <= row_group_rows for n in set(names))
    for name, groups in seen_in.items():
        assert groups == list(range(groups[0], groups[-1] + 1)), name
        if counts[name] <= row_group_rows:
            assert len(groups) == 1, name


def test_columns_units_and_scene_descriptions_are_the_batches(batch_tables, tmp_path):
    output = tmp_path / "pixels.parquet"
    write_feature_pixels(batch_tables, FEATURES, output)
    batch = pq.read_schema(batch_tables[0])
    table = pq.read_schema(output)
    assert table.names == batch.names
    for name in batch.names:
        ours, theirs = table.field(name), batch.field(name)
        assert ours.metadata == theirs.metadata, name
        if str(theirs.type).startswith("dictionary"):
            assert ours.type.value_type == theirs.type.value_type
        else:
            assert ours.type == theirs.type, name
    expected = {}
    for path in batch_tables:
        expected.update(batches.pixel_scenes(path))
    assert batches.pixel_scenes(output) == expected
    assert len(expected) == 9


class RangeRecorder(io.RawIOBase):
    """A read-only file over bytes that records every (offset, size) read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.position, self.reads = data, 0, []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = {0: 0, 1: self.position, 2: len(self.data)}[whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        chunk = self.data[self.position : self.position + len(buffer)]
        buffer[: len(chunk)] = chunk
        if chunk:
            self.reads.append((self.position, len(chunk)))
        self.position += len(chunk)
        return len(chunk)


def group_byte_range(metadata: pq.FileMetaData, group: int) -> tuple[int, int]:
    """[start, stop) of a row group's bytes: from its first column chunk's first page
    (dictionary page included) to its last chunk's end (a row group's chunks follow
    each other; a reader may read several in one request)."""
    ranges = []
    row_group = metadata.row_group(group)
    for c in range(row_group.num_columns):
        chunk = row_group.column(c)
        start = min(o for o in (chunk.dictionary_page_offset, chunk.data_page_offset) if o)
        ranges.append((start, start + chunk.total_compressed_size))
    return min(a for a, _ in ranges), max(b for _, b in ranges)


def test_the_reader_reads_only_the_row_groups_of_the_feature(batch_tables, tmp_path):
    """Row groups of 7 rows: every feature spans or shares some; the groups a feature's
    rows lie in are found here from the full table's feature column."""
    output = tmp_path / "pixels.parquet"
    write_feature_pixels(batch_tables, FEATURES, output, block_rows=100, row_group_rows=7)
    data = output.read_bytes()
    metadata = pq.ParquetFile(output).metadata
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    features = pq.read_table(output, columns=["feature"]).column(0).to_pylist()
    sizes = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    group_of_row = np.repeat(np.arange(len(sizes)), sizes)
    expected = oracle(batch_tables)
    for name in FEATURES:
        recorder = RangeRecorder(data)
        table = FeaturePixels(recorder)
        recorder.reads.clear()  # the footer is read on opening
        got = table.read(name)
        pd.testing.assert_frame_equal(
            plain(got), expected[expected["feature"] == name].reset_index(drop=True)
        )
        groups = sorted({int(g) for g, f in zip(group_of_row, features, strict=True) if f == name})
        assert table.row_groups(name) == groups
        allowed = [group_byte_range(metadata, g) for g in groups]
        for offset, size in recorder.reads:
            inside = any(a <= offset and offset + size <= b for a, b in allowed)
            assert inside or offset >= footer, (name, offset, size, groups)
        if not groups:
            assert recorder.reads == [] and len(got) == 0
        assert list(got.columns) == list(expected.columns)


def test_read_feature_pixels_limits_columns_and_names_unknown_features(batch_tables, tmp_path):
    output = tmp_path / "pixels.parquet"
    write_feature_pixels(batch_tables, FEATURES, output)
    got = read_feature_pixels(output, "mid", columns=["time", COLUMN])
    expected = oracle(batch_tables)
    expected = expected[expected["feature"] == "mid"][["time", COLUMN]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    with pytest.raises(InputError, match="holds no feature 'nope'"):
        read_feature_pixels(output, "nope")


def test_a_batch_with_a_feature_the_aoi_lacks_is_an_error(batch_tables, tmp_path):
    with pytest.raises(InputError, match="holds features the AOI lacks: big"):
        write_feature_pixels(
            batch_tables, [f for f in FEATURES if f != "big"], tmp_path / "pixels.parquet"
        )
    assert not (tmp_path / "pixels.parquet").exists()
