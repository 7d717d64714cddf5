"""The product's ``xfdumanifest.xml``: the XFDU package description, its metadata
sections, and one data object per netCDF file with the file's real size and MD5.

Structure, element names and texts as in the real manifests: WFR 003 in
tests/data/real-manifests, 004 in stactools-packages/sentinel3 (``tests/data-files``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from xml.sax.saxutils import escape

from eotrend.synthetic import swath as sw
from eotrend.synthetic.geometry import _swath
from eotrend.synthetic.spec import (
    SceneSpec,
    _absolute_orbit,
    _creation,
    _iso_us,
    _start,
    _stop,
    product_name,
)
from eotrend.synthetic.surface import _Summary
from eotrend.synthetic.wfr_format import (
    _FILES,
    AL_TIME_SAMPLING_US,
    BAND_CENTRE_NM,
    BAND_WIDTH_NM,
    BANDS,
    IPF_VERSION,
    TIE_STEP,
)

MANIFEST = "xfdumanifest.xml"


def _md5(path: Path) -> str:
    """Hex MD5 of a file, read in 1 MiB pieces."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while piece := fh.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def _metadata_object(ident: str, text: str, body: str, category: str = "DMD") -> str:
    """One ``metadataObject`` wrapping ``body`` (already indented XML)."""
    classification = "PROVENANCE" if category == "PDI" else "DESCRIPTION"
    return (
        f'      <metadataObject ID="{ident}" classification="{classification}" '
        f'category="{category}">\n'
        f'         <metadataWrap mimeType="text/xml" vocabularyName="Sentinel-SAFE" '
        f'textInfo="{text}">\n'
        f"            <xmlData>\n{body}"
        f"            </xmlData>\n"
        f"         </metadataWrap>\n"
        f"      </metadataObject>\n"
    )


def _processing_baseline(spec: SceneSpec, ind: str) -> str:
    """The ``processingBaseline`` line: in the real 004 manifest (OL__L2M.004.00.00), absent
    from the 003 one (both in stactools-packages/sentinel3); written for 004 only."""
    if spec.baseline != "004":
        return ""
    tag = "sentinel3:processingBaseline"
    return f"{ind}   <{tag}>OL__L2M.004.00.00</{tag}>\n"


def _manifest_xml(spec: SceneSpec, entries: list[tuple[str, int, str]], summary: _Summary) -> str:
    """The xfdumanifest.xml text for the files in ``entries`` (name, size, md5)."""
    name = product_name(spec)
    ind = " " * 15
    units = "".join(
        f'         <xfdu:contentUnit ID="{_FILES[f].data_id[:-4]}Unit" unitType='
        f'"{"Annotation" if _FILES[f].annotation else "Measurement"} Data Unit" '
        f'textInfo="{_FILES[f].text}">\n'
        f'            <dataObjectPointer dataObjectID="{_FILES[f].data_id}"/>\n'
        f"         </xfdu:contentUnit>\n"
        for f, _, _ in entries
    )
    lon, lat = sw.footprint(_swath(spec))
    pos = " ".join(f"{a:.6f} {o:.6f}" for a, o in zip(lat, lon, strict=True))
    total = sum(size for _, size, _ in entries)
    pct = 100.0 / max(summary.total, 1)
    direction = "descending" if 90.0 < spec.heading_deg % 360.0 < 270.0 else "ascending"
    bands = "".join(
        f'{ind}   <sentinel3:band name="{b}">\n'
        f"{ind}      <sentinel3:centralWavelength>{BAND_CENTRE_NM[b]:g}"
        f"</sentinel3:centralWavelength>\n"
        f"{ind}      <sentinel3:bandwidth>{BAND_WIDTH_NM[b]:g}</sentinel3:bandwidth>\n"
        f"{ind}   </sentinel3:band>\n"
        for b in BANDS
    )
    sections = [
        _metadata_object("acquisitionPeriod", "Acquisition Period", (
            f"{ind}<sentinel-safe:acquisitionPeriod>\n"
            f"{ind}   <sentinel-safe:startTime>{_iso_us(_start(spec))}</sentinel-safe:startTime>\n"
            f"{ind}   <sentinel-safe:stopTime>{_iso_us(_stop(spec))}</sentinel-safe:stopTime>\n"
            f"{ind}</sentinel-safe:acquisitionPeriod>\n")),
        _metadata_object("platform", "Platform Description", (
            f"{ind}<sentinel-safe:platform>\n"
            f"{ind}   <sentinel-safe:nssdcIdentifier>"
            f"{'2016-011A' if spec.mission == 'S3A' else '2018-039A'}"
            f"</sentinel-safe:nssdcIdentifier>\n"
            f"{ind}   <sentinel-safe:familyName>Sentinel-3</sentinel-safe:familyName>\n"
            f"{ind}   <sentinel-safe:number>{spec.mission[-1]}</sentinel-safe:number>\n"
            f"{ind}   <sentinel-safe:instrument>\n"
            f'{ind}      <sentinel-safe:familyName abbreviation="OLCI">Ocean Land Colour '
            f"Instrument</sentinel-safe:familyName>\n"
            f'{ind}      <sentinel-safe:mode identifier="EO">Earth Observation'
            f"</sentinel-safe:mode>\n"
            f"{ind}   </sentinel-safe:instrument>\n"
            f"{ind}</sentinel-safe:platform>\n")),
        _metadata_object("measurementFrameSet", "Frame Set", (
            f"{ind}<sentinel-safe:frameSet>\n"
            f'{ind}   <sentinel-safe:footPrint srsName="http://www.opengis.net/def/crs/EPSG/0/'
            f'4326">\n'
            f"{ind}      <gml:posList>{pos}</gml:posList>\n"
            f"{ind}   </sentinel-safe:footPrint>\n"
            f"{ind}</sentinel-safe:frameSet>\n")),
        _metadata_object("generalProductInformation", "General Product Information", (
            f"{ind}<sentinel3:generalProductInformation>\n"
            f"{ind}   <sentinel3:productName>{escape(name)}</sentinel3:productName>\n"
            f"{ind}   <sentinel3:productType>OL_2_WFR___</sentinel3:productType>\n"
            f"{ind}   <sentinel3:timeliness>{spec.timeliness}</sentinel3:timeliness>\n"
            f"{ind}   <sentinel3:baselineCollection>{spec.baseline}"
            f"</sentinel3:baselineCollection>\n"
            f"{_processing_baseline(spec, ind)}"
            f"{ind}   <sentinel3:creationTime>{_creation(spec).strftime('%Y%m%dT%H%M%S')}"
            f"</sentinel3:creationTime>\n"
            f"{ind}   <sentinel3:productSize>{total}</sentinel3:productSize>\n"
            f"{ind}   <sentinel3:dispositionMode>Operational</sentinel3:dispositionMode>\n"
            f"{ind}   <sentinel3:productUnit>\n"
            f"{ind}      <sentinel3:type>FRAME</sentinel3:type>\n"
            f"{ind}      <sentinel3:duration>{int((_stop(spec) - _start(spec)).total_seconds())}"
            f"</sentinel3:duration>\n"
            f"{ind}      <sentinel3:alongtrackCoordinate>{spec.frame}"
            f"</sentinel3:alongtrackCoordinate>\n"
            f"{ind}   </sentinel3:productUnit>\n"
            f"{ind}</sentinel3:generalProductInformation>\n")),
        _metadata_object("olciProductInformation", "Olci Product Information", (
            f"{ind}<olci:olciProductInformation>\n"
            f"{ind}   <olci:classificationSummary>\n"
            f'{ind}      <sentinel3:salineWaterPixels percentage="{summary.sea * pct:.6f}"/>\n'
            f'{ind}      <sentinel3:coastalPixels percentage="0.000000"/>\n'
            f'{ind}      <sentinel3:freshInlandWaterPixels percentage='
            f'"{summary.inland * pct:.6f}"/>\n'
            f'{ind}      <sentinel3:tidalRegionPixels percentage="0.000000"/>\n'
            f'{ind}      <sentinel3:landPixels percentage="{summary.land * pct:.6f}"/>\n'
            f'{ind}      <sentinel3:cloudyPixels percentage="{summary.cloud * pct:.6f}"/>\n'
            f"{ind}   </olci:classificationSummary>\n"
            f"{ind}   <olci:atmosphericCorrectionType>PARALLEL</olci:atmosphericCorrectionType>\n"
            f"{ind}   <olci:imageSize>\n"
            f"{ind}      <sentinel3:rows>{spec.rows}</sentinel3:rows>\n"
            f"{ind}      <sentinel3:columns>{spec.columns}</sentinel3:columns>\n"
            f"{ind}   </olci:imageSize>\n"
            f"{ind}   <olci:pixelQualitySummary>\n"
            f'{ind}      <olci:invalidPixels value="{summary.invalid}" percentage='
            f'"{summary.invalid * pct:.6f}"/>\n'
            f'{ind}      <olci:cosmeticPixels value="0" percentage="0.000000"/>\n'
            f'{ind}      <olci:duplicatedPixels value="0" percentage="0.000000"/>\n'
            f'{ind}      <olci:saturatedPixels value="0" percentage="0.000000"/>\n'
            f'{ind}      <olci:dubiousSamples value="0" percentage="0.000000"/>\n'
            f"{ind}   </olci:pixelQualitySummary>\n"
            f"{ind}   <olci:samplingParameters>\n"
            f"{ind}      <olci:alTimeSampling>{AL_TIME_SAMPLING_US}</olci:alTimeSampling>\n"
            f"{ind}      <olci:alSpatialSampling>294</olci:alSpatialSampling>\n"
            f"{ind}      <olci:acSpatialSampling>270</olci:acSpatialSampling>\n"
            f"{ind}      <olci:rowsPerTiePoint>1</olci:rowsPerTiePoint>\n"
            f"{ind}      <olci:columnsPerTiePoint>{TIE_STEP}</olci:columnsPerTiePoint>\n"
            f"{ind}   </olci:samplingParameters>\n"
            f'{ind}   <olci:bandDescriptions bands="{len(BANDS)}">\n{bands}'
            f"{ind}   </olci:bandDescriptions>\n"
            f"{ind}</olci:olciProductInformation>\n")),
        _metadata_object("measurementOrbitReference", "Orbit Reference", (
            f"{ind}<sentinel-safe:orbitReference>\n"
            f'{ind}   <sentinel-safe:orbitNumber type="start" groundTrackDirection='
            f'"{direction}">{_absolute_orbit(spec)}</sentinel-safe:orbitNumber>\n'
            f'{ind}   <sentinel-safe:relativeOrbitNumber type="start" groundTrackDirection='
            f'"{direction}">{spec.relative_orbit}</sentinel-safe:relativeOrbitNumber>\n'
            f"{ind}   <sentinel-safe:cycleNumber>{spec.cycle}</sentinel-safe:cycleNumber>\n"
            f"{ind}</sentinel-safe:orbitReference>\n")),
        _metadata_object("measurementQualityInformation", "Quality Information", (
            f"{ind}<sentinel-safe:qualityInformation>\n"
            f"{ind}   <sentinel-safe:extension>\n"
            f"{ind}      <sentinel3:productQuality>\n"
            f"{ind}         <sentinel3:onlineQualityCheck>PASSED</sentinel3:onlineQualityCheck>\n"
            f"{ind}      </sentinel3:productQuality>\n"
            f"{ind}   </sentinel-safe:extension>\n"
            f"{ind}</sentinel-safe:qualityInformation>\n")),
        _metadata_object("processing", "Processing", (
            f'{ind}<sentinel-safe:processing name="DataProcessing" outputLevel="2">\n'
            f'{ind}   <sentinel-safe:facility name="Synthetic (eotrend)" organisation='
            f'"eotrend" site="none" country="none">\n'
            f'{ind}      <sentinel-safe:software name="IPF-OL-2" version='
            f'"{IPF_VERSION[spec.baseline]}"/>\n'
            f"{ind}   </sentinel-safe:facility>\n"
            f'{ind}   <sentinel-safe:resource name="S3IPF PDS 004.3 - Product Data Format '
            f'Specification - OLCI Level 2 Marine" role="Product Data Format Specification"/>\n'
            f"{ind}</sentinel-safe:processing>\n"), "PDI"),
    ]  # fmt: skip
    for f, _, _ in entries:
        if _FILES[f].annotation:
            ident = _FILES[f].data_id[:-4] + "Annotation"
            sections.append(
                f'      <metadataObject ID="{ident}" classification="DESCRIPTION" '
                f'category="DMD">\n'
                f'         <dataObjectPointer dataObjectID="{_FILES[f].data_id}"/>\n'
                f"      </metadataObject>\n"
            )
    objects = "".join(
        f'      <dataObject ID="{_FILES[f].data_id}">\n'
        f'         <byteStream mimeType="application/x-netcdf" size="{size}">\n'
        f'            <fileLocation locatorType="URL" textInfo="{_FILES[f].text}" '
        f'href="./{f}"/>\n'
        f'            <checksum checksumName="MD5">{md5}</checksum>\n'
        f"         </byteStream>\n"
        f"      </dataObject>\n"
        for f, size, md5 in entries
    )
    dmd = (
        "acquisitionPeriod platform measurementOrbitReference measurementQualityInformation"
        " processing measurementFrameSet generalProductInformation olciProductInformation"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" '
        'xmlns:sentinel-safe="http://www.esa.int/safe/sentinel/1.1" '
        'xmlns:gml="http://www.opengis.net/gml" '
        'xmlns:sentinel3="http://www.esa.int/safe/sentinel/sentinel-3/1.0" '
        'xmlns:olci="http://www.esa.int/safe/sentinel/sentinel-3/olci/1.0" '
        'version="esa/safe/sentinel/sentinel-3/olci/level-2/1.0">\n'
        "   <informationPackageMap>\n"
        '      <xfdu:contentUnit ID="packageUnit" unitType="Information Package" '
        f'textInfo="SENTINEL-3 OLCI Level 2 Water Product" dmdID="{dmd}" pdiID="processing">\n'
        f"{units}"
        "      </xfdu:contentUnit>\n"
        "   </informationPackageMap>\n"
        f"   <metadataSection>\n{''.join(sections)}   </metadataSection>\n"
        f"   <dataObjectSection>\n{objects}   </dataObjectSection>\n"
        "</xfdu:XFDU>\n"
    )
