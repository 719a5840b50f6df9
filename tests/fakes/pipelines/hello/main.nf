// The test pipeline the nextflow stand-in "runs" (tests/fakes/nextflow simulates FASTQC per
// sample, then MULTIQC). Real Nextflow would run this file as written.
nextflow.enable.dsl = 2

params.input = null
params.outdir = null
params.fail_process = null

process FASTQC {
    tag "${sample}"
    publishDir "${params.outdir}/fastqc", mode: 'copy'
    input:
    val sample
    output:
    path "${sample}_fastqc.html"
    script:
    if (params.fail_process == 'FASTQC') { "exit ${params.exit_code ?: 1}" }
    else { "echo '<html>${sample}</html>' > ${sample}_fastqc.html" }
}

process MULTIQC {
    publishDir "${params.outdir}/multiqc", mode: 'copy'
    input:
    path reports
    output:
    path 'multiqc_report.html'
    script:
    if (params.fail_process == 'MULTIQC') { "exit ${params.exit_code ?: 1}" }
    else { "cat ${reports} > multiqc_report.html" }
}

workflow {
    samples = Channel.fromPath(params.input).splitCsv(header: true).map { it.sample }
    MULTIQC(FASTQC(samples).collect())
}
