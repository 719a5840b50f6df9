"""Outgoing webhooks, shared by the services that send them (compute's run events, miner's
order moves): Standard Webhooks signatures, the SSRF guard, the delivering HTTP call, the
retry schedule, the table shapes and the outbox delivery loop. Each service keeps its own
tables (its schema), triggers and routes."""
