"""What a product holds and which of its files a dataset reads.

A product's own ``xfdumanifest.xml`` lists every data file with its size and MD5
(``dataObjectSection/dataObject/byteStream`` with ``fileLocation/@href`` and ``checksum
checksumName="MD5"``, olci-format.md §8; the real manifests in tests/data/real-manifests
show the format). The per-file fetch modes read it first, then fetch only
:func:`needed_files`:

* ``xfdumanifest.xml``, ``geo_coordinates.nc`` (locate's full-resolution window, extract's
  pixel centres) and ``tie_geo_coordinates.nc`` (locate's tie-point index and extract's
  swath edge for the coverage, olci-format.md §4): always (:data:`eotrend.olci.REQUIRED_FILES`);
* the flag file, ``wqsf.nc`` (WFR) or ``lqsf.nc`` (LFR), whichever the manifest lists;
* each variable's file from the reader's map (:data:`eotrend.olci.VARIABLE_FILES`; the
  angles SZA, SAA, OZA, OAA are in ``tie_geometries.nc``, fetched only when one is asked
  for); ``<known>_err``/``_unc`` with the file of ``<known>``; a file its baseline
  replaced (:data:`eotrend.olci.REPLACED_FILES`) with the replacing file, so that the
  reader can say what the product holds instead;
* a variable the map does not know: the manifest's data files are its candidates
  (:func:`candidate_files`), looked into one by one until one holds it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from eotrend.olci import FLAG_VARIABLES, REPLACED_FILES, REQUIRED_FILES, VARIABLE_FILES

MANIFEST = "xfdumanifest.xml"
UNCERTAINTY_SUFFIXES = ("_err", "_unc")


class ManifestError(ValueError):
    """An ``xfdumanifest.xml`` that cannot be parsed (the message says why)."""


@dataclass(frozen=True)
class Listed:
    """One data file a manifest lists: its name (relative to the product folder), size in
    bytes (None when not listed) and MD5 (lower-case hex, "" when not listed)."""

    name: str
    size: int | None
    md5: str


def listed_files(manifest: Path | bytes) -> dict[str, Listed]:
    """The data files of a product's ``xfdumanifest.xml`` (a path or its bytes), by name,
    in manifest order.

    Raises:
        ManifestError: not valid XML.
    """
    try:
        if isinstance(manifest, bytes):
            root = ET.fromstring(manifest)
        else:
            root = ET.parse(manifest).getroot()
    except ET.ParseError as error:
        raise ManifestError(f"xfdumanifest.xml is not valid XML ({error})") from None
    found: dict[str, Listed] = {}
    for stream in (e for e in root.iter() if _local(e.tag) == "byteStream"):
        location = next((e for e in stream if _local(e.tag) == "fileLocation"), None)
        if location is None:
            continue
        name = Path(location.get("href", "")).as_posix()  # "./x.nc" -> "x.nc"
        size = stream.get("size")
        md5 = next(
            (
                (e.text or "").strip().lower()
                for e in stream
                if _local(e.tag) == "checksum" and e.get("checksumName", "MD5").upper() == "MD5"
            ),
            "",
        )
        found[name] = Listed(name, int(size) if size is not None else None, md5)
    return found


def _local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rpartition("}")[2]


def variable_file(variable: str, listed: Mapping[str, Listed], baseline: str) -> str | None:
    """The file of ``variable`` in a product listing ``listed``, when the reader's map
    says (see the module docstring); None when it must be looked for."""
    known = VARIABLE_FILES.get(variable)
    if known is None:
        base = next((variable[: -len(s)] for s in UNCERTAINTY_SUFFIXES if variable.endswith(s)), "")
        known = VARIABLE_FILES.get(base)
    if known is None:
        return None
    if known in listed:
        return known
    replaced = REPLACED_FILES.get((baseline, known))
    return replaced if replaced in listed else None


def needed_files(
    listed: Mapping[str, Listed], variables: Iterable[str], baseline: str
) -> tuple[list[str], list[str]]:
    """(files, unresolved): the files a dataset with ``variables`` reads from a product
    whose manifest lists ``listed`` (the manifest itself first), and the variables whose
    file must be looked for (:func:`candidate_files`)."""
    files = list(REQUIRED_FILES)
    flags = [VARIABLE_FILES[v] for v in FLAG_VARIABLES if VARIABLE_FILES[v] in listed]
    files += flags[:1]
    unresolved = []
    for variable in variables:
        name = variable_file(variable, listed, baseline)
        if name is None:
            unresolved.append(variable)
        else:
            files.append(name)
    return list(dict.fromkeys(files)), unresolved


def candidate_files(
    variable: str, listed: Mapping[str, Listed], exclude: Iterable[str]
) -> list[str]:
    """The listed netCDF files that may hold an unknown ``variable``, likeliest first:
    those sharing a word with it (``chlor_a`` -> ``chlor_a.nc``, ``ADG443_LSD`` ->
    ``iop_lsd.nc``), then the others, by name; none of ``exclude`` (already looked into)."""
    skip = set(exclude)
    words = set(variable.lower().split("_"))
    names = [n for n in listed if n.endswith(".nc") and n not in skip]
    return sorted(names, key=lambda n: (not words & set(Path(n).stem.split("_")), n))
