"""Grid polygons for the centres' map page."""

from gridrisk.taskstore.migrations import apply

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply(3)
