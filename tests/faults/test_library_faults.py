"""Library pieces the fault handling rests on, tested directly: atomic outputs after kills
and on full disks, and messages that quote paths as given."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from eotrend.core.atomic import atomic_path
from eotrend.core.errors import InputError, OutputError
from support.commands import REPO

pytestmark = pytest.mark.timeout(120)


def test_messages_keep_paths_as_given():
    error = InputError("../data/x.tif", "is damaged", "Export it again.")
    assert str(error) == "../data/x.tif: is damaged. Export it again."
    assert str(InputError(None, "ends with a period.")) == "ends with a period."


def test_a_killed_writer_leaves_a_hidden_temporary_removed_by_the_next_write(tmp_path):
    final = tmp_path / "stats.csv"
    # A process killed outright while writing: its temporary stays, hidden.
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[2])\n"
        "from eotrend.core.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(final), str(REPO / "scripts")], check=False)
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".stats.csv.") and not final.exists()
    unrelated = tmp_path / ".stats.csv.notes"  # not a temporary name: kept
    unrelated.write_text("mine")
    with atomic_path(final) as tmp:
        tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".stats.csv.notes", "stats.csv"]
    assert final.read_text() == "whole"


def test_a_full_disk_is_an_output_error_naming_the_file(tmp_path):
    final = tmp_path / "out.parquet"
    with pytest.raises(OutputError) as raised, atomic_path(final) as tmp:
        tmp.write_text("partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(raised.value).startswith(f"{final}: cannot be written: no space left in ")
    assert list(tmp_path.iterdir()) == []


def test_other_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(ValueError, match="a bug"), atomic_path(tmp_path / "x.csv") as tmp:
        tmp.write_text("partial")
        raise ValueError("a bug")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot be written"), atomic_path(blocker / "x.csv"):
        pass
