"""Run the whole nfhub stack on this machine (``make run``).

``uv run --frozen python scripts/devstack.py run`` starts an embedded PostgreSQL (unless
``DATABASE_URL`` is set), migrates every service, starts them with uvicorn over HTTPS (a local
development CA's certificate; ``--http`` for plain HTTP), waits for their ``/readyz``, seeds a
demo org/project/user and prints where everything is. It then stays in the foreground: Ctrl-C
or SIGTERM stops every service, then PostgreSQL.

All state lives under ``.nfhub/`` at the repository root (``NFHUB_STATE_DIR`` overrides it):

    pgdata/                  the embedded PostgreSQL cluster (kept between runs)
    keys/jwt-ed25519.pem     admin's JWT signing key (generated once, 0600)
    secrets.env              SERVICE_SECRET and the other generated secrets (once, 0600)
    storage/                 local object storage
    logs/<service>.log       each process's output, truncated at every start
    tls/                     the development CA (ca.pem) and the services' certificate
    stack.json               URLs, database URL, CA and the demo credentials of the running stack

One module per part: ``services`` (what runs), ``state`` (the state folder), ``database``,
``supervisor`` (the processes), ``echo`` (their logs), ``banner``, ``run`` (one run, start to
stop), ``cli`` (the commands), ``errors`` (consoles, errors and signals).
"""
