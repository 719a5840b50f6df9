from nfhub_shared.errors import Conflict, NotFound


class OrderNotFound(NotFound):
    title = "No such order"


class OrderExists(Conflict):
    title = "Order exists"


class IllegalTransition(Conflict):
    title = "Illegal order status change"


class OrderLocked(Conflict):
    title = "Order can no longer be changed"
