"""Order statuses and who may move an order between them.

created → analyzing → review → sign_off → completed, and analyzing → sign_off (no review);
any status not yet final → cancelled. Forward only. Editors advance an order; signing it off
(→ completed) and cancelling it need a project admin.
"""

from __future__ import annotations

from enum import StrEnum

from nfhub_shared.auth.principal import ProjectRole


class OrderStatus(StrEnum):
    created = "created"
    analyzing = "analyzing"
    review = "review"
    sign_off = "sign_off"
    completed = "completed"
    cancelled = "cancelled"


MOVES: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    OrderStatus.created: (OrderStatus.analyzing, OrderStatus.cancelled),
    OrderStatus.analyzing: (OrderStatus.review, OrderStatus.sign_off, OrderStatus.cancelled),
    OrderStatus.review: (OrderStatus.sign_off, OrderStatus.cancelled),
    OrderStatus.sign_off: (OrderStatus.completed, OrderStatus.cancelled),
    OrderStatus.completed: (),
    OrderStatus.cancelled: (),
}
ROLE_TO_ENTER: dict[OrderStatus, ProjectRole] = {
    OrderStatus.analyzing: ProjectRole.editor,
    OrderStatus.review: ProjectRole.editor,
    OrderStatus.sign_off: ProjectRole.editor,
    OrderStatus.completed: ProjectRole.admin,
    OrderStatus.cancelled: ProjectRole.admin,
}
EDITABLE = frozenset({OrderStatus.created})
DELETABLE = frozenset({OrderStatus.created, OrderStatus.cancelled})


def permitted_moves(status: OrderStatus, role: ProjectRole) -> tuple[OrderStatus, ...]:
    """The moves from ``status`` that ``role`` may make: what a page offers this caller."""
    return tuple(move for move in MOVES[status] if role.allows(ROLE_TO_ENTER[move]))
