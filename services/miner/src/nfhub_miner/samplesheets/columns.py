"""How nf-core samplesheet columns map to subjects and samples, both ways.

Import reads a samplesheet (one row per lane or replicate) into subjects and samples; export
(`GET /orders/{id}/samplesheet`) writes a pipeline's columns from them. Columns nobody maps
become sample properties (the same on every row of a sample) or file-set attributes (they
differ between its rows), and come back out under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass

# Columns that name files (nf-core's roles): they go to a file set's paths.
FILE_ROLES = frozenset(
    {
        "fastq_1",
        "fastq_2",
        "spring_1",
        "spring_2",
        "bam",
        "bai",
        "cram",
        "crai",
        "vcf",
        "tbi",
        "table",
        "genome_bam",
        "transcriptome_bam",
    }
)
# Columns of a row (a lane, a replicate), not of the sample.
FILE_SET_COLUMNS = frozenset({"lane", "replicate"})
SAMPLE_COLUMNS = ("sample", "display_id")
SUBJECT_COLUMNS = ("patient", "subject")
# Our own fields, by the column that carries them.
SAMPLE_FIELDS = frozenset(
    {"sample_type", "tissue", "collection_date", "barcode", "external_id", "tags", "status"}
)
SUBJECT_FIELDS = frozenset({"sex", "date_of_birth", "diagnosis", "subject_external_id"})

# sarek's sex column; our sex values pass through too.
SEX_FROM_SHEET = {"XX": "female", "XY": "male", "NA": "unknown", "X": "female"}
SEX_TO_SHEET = {"female": "XX", "male": "XY", "other": "NA", "unknown": "NA"}
# sarek's status: 1 tumour, 0 normal.
STATUS_FROM_SHEET = {"0": "germline", "1": "somatic"}
TUMOUR_ROLES = frozenset({"tumour", "tumor", "relapse", "metastasis"})
SOMATIC_TYPES = frozenset({"somatic", "ffpe", "liquid_biopsy"})


@dataclass(frozen=True, slots=True)
class Default:
    """What a column gets when nothing in the data gives it a value. Where the pipeline's
    schema makes the column meaningful (its row rules name it: sarek's lane picks the branch),
    the default is only for rows with one of ``only_with``'s files, and never without it."""

    value: str
    only_with: frozenset[str] = frozenset()


# Per pipeline family. sarek's lane is part of a FASTQ (or spring) row's id; a BAM, CRAM or VCF
# row without one is another input kind, and a BAM with a lane is an unaligned one.
FAMILY_DEFAULTS: dict[str, dict[str, Default]] = {
    "rnaseq": {"strandedness": Default("auto")},
    "sarek": {"lane": Default("1", only_with=frozenset({"fastq_1", "spring_1"}))},
    "atacseq": {"replicate": Default("1")},
    "chipseq": {"replicate": Default("1")},
}
TAG_SEPARATORS = ";|"


def family_of(pipeline_slug: str) -> str | None:
    """The nf-core family of a pipeline slug: 'rnaseq', 'nf-core-rnaseq', 'rnaseq-lab'…"""
    for family in FAMILY_DEFAULTS:
        if family in pipeline_slug.lower().replace("_", "-").split("-"):
            return family
    return None
