from nfhub_compute.worker.main import run

run()
