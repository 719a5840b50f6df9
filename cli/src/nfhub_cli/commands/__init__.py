"""The ``nfhub`` commands, one module per command group; ``nfhub_cli.main`` assembles them."""
