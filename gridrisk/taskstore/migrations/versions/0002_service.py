"""The service: case-loop columns, actors, tokens, evidence reads, outbox and deliveries."""

from gridrisk.taskstore.migrations import apply

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(2)
