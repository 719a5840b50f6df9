#!/usr/bin/env nextflow
/*
 * nfhub demo: counts the reads in each sample's FASTQ files, then writes one summary table.
 * Input: a samplesheet CSV with the columns sample,fastq_1,fastq_2 (nf-core style).
 */
nextflow.enable.dsl = 2

params.input = null
params.outdir = null

process COUNT_READS {
    tag "${meta.id}"
    publishDir "${params.outdir}/counts", mode: 'copy'

    input:
    tuple val(meta), path(reads)

    output:
    path "${meta.id}.counts.tsv"

    script:
    """
    for f in ${reads}; do
        n=\$( (gzip -cdf "\$f" 2>/dev/null || cat "\$f") | awk 'END { print int(NR / 4) }' )
        printf '%s\\t%s\\t%s\\n' "${meta.id}" "\$f" "\$n"
    done > ${meta.id}.counts.tsv
    """
}

process SUMMARY {
    publishDir "${params.outdir}/summary", mode: 'copy'

    input:
    path counts

    output:
    path 'summary.tsv'

    script:
    """
    printf 'sample\\tfile\\treads\\n' > summary.tsv
    cat ${counts} >> summary.tsv
    """
}

workflow {
    if (!params.input) {
        error "Give --input: a samplesheet CSV with the columns sample,fastq_1,fastq_2"
    }
    samples = Channel.fromPath(params.input, checkIfExists: true)
        .splitCsv(header: true)
        .map { row ->
            def reads = [file(row.fastq_1, checkIfExists: true)]
            if (row.fastq_2) {
                reads << file(row.fastq_2, checkIfExists: true)
            }
            tuple([id: row.sample], reads)
        }
    COUNT_READS(samples)
    SUMMARY(COUNT_READS.out.collect())
}
