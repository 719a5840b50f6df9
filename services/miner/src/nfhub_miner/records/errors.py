from nfhub_shared.errors import Conflict


class SampleInUse(Conflict):
    title = "Sample is in an order"
