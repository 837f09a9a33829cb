"""Tasks and their events (the first shipped schema)."""

from gridrisk.taskstore.migrations import apply

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(1)
