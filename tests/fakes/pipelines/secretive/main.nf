// A test pipeline whose one process reads a pipeline secret (tests/fakes/nextflow simulates
// it: the task's work folder gets greeting.sha256). Real Nextflow would run it as written.
nextflow.enable.dsl = 2

params.outdir = null

process GREET {
    secret 'GREETING'
    output:
    path 'greeting.sha256'
    script:
    """
    printf '%s' "\$GREETING" | sha256sum | cut -d' ' -f1 > greeting.sha256
    """
}

workflow {
    GREET()
}
