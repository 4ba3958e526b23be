"""What dispatchers record about the clocks: an overdue task acknowledged or escalated.

One row per acknowledgement or escalation of a task's overdue stage
(:mod:`incidents.service.overdue`): the stage and grade it was made at, who, when, and for an
escalation to whom. Rows are only added (the newest per task and stage counts), so the history
of who saw what stays.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from incidents.store.models_base import Base, utcnow

__all__ = ["OverdueMark"]


class OverdueMark(Base):
    """A dispatcher acknowledged an overdue task's stage, or escalated it to the duty chief.

    ``action`` is ``acknowledged`` or ``escalated``; ``grade`` the overdue grade (watch / late /
    critical) when it was made: an acknowledged row folds away until the task reaches a worse
    grade or another stage.
    """

    __tablename__ = "overdue_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # open | confirmed | en_route | on_scene
    grade: Mapped[str] = mapped_column(String(16))  # watch | late | critical
    action: Mapped[str] = mapped_column(String(16))  # acknowledged | escalated
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    escalated_to: Mapped[str | None] = mapped_column(String(64))  # "duty_chief"
    note: Mapped[str | None] = mapped_column(Text)
