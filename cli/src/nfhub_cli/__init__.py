"""nfhub's command line (``nfhub``): the API as a lab scripts it."""
