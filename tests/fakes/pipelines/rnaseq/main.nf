// A test pipeline shaped like nf-core/rnaseq, for the launch form's browser test and the README's
// screenshots: its nextflow_schema.json has what nf-schema offers a form (groups, help text,
// enums, defaults, required and hidden parameters). tests/fakes/nextflow "runs" the processes
// below: FASTQC once per samplesheet row, then each of the others once.
nextflow.enable.dsl = 2

params.input = null
params.outdir = null
params.genome = null
params.gencode = false
params.trimmer = 'trimgalore'
params.min_trimmed_reads = 10000
params.publish_dir_mode = 'copy'
params.max_multiqc_email_size = '25.MB'

process FASTQC {
    tag "${sample}"
    publishDir "${params.outdir}/fastqc", mode: params.publish_dir_mode
    input:
    val sample
    output:
    path "${sample}_fastqc.html"
    script:
    "echo '<html>${sample}</html>' > ${sample}_fastqc.html"
}

process SALMON_QUANT {
    publishDir "${params.outdir}/salmon", mode: params.publish_dir_mode
    input:
    path reports
    output:
    path 'quant.sf'
    script:
    "echo 'Name\tLength\tTPM\tNumReads' > quant.sf"
}

process MULTIQC {
    publishDir "${params.outdir}/multiqc", mode: params.publish_dir_mode
    input:
    path quant
    output:
    path 'multiqc_report.html'
    script:
    "cat ${quant} > multiqc_report.html"
}

workflow {
    samples = Channel.fromPath(params.input).splitCsv(header: true).map { it.sample }
    MULTIQC(SALMON_QUANT(FASTQC(samples).collect()))
}
