from nfhub_shared.startup import process_start

with process_start():
    from nfhub_compute.worker.main import run

run()
