"""SQLAlchemy 2 models. The schema itself only ever comes from the Alembic migrations."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, Boolean, DateTime, Enum, Float, ForeignKey, Index, Integer, String, Text,
    UniqueConstraint, event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.status import StudyStatus


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; every datetime here was written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    # SHA-256 of the key: keys are 32 random bytes, so a fast hash is enough (no dictionary).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Study(Base):
    __tablename__ = "studies"
    __table_args__ = (
        UniqueConstraint("client_id", "idempotency_key", name="uq_studies_client_idempotency"),
        Index("ix_studies_status_priority", "status", "priority"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    accession_number: Mapped[str] = mapped_column(String(64), index=True)
    priority: Mapped[str] = mapped_column(String(10), default="routine")
    status: Mapped[StudyStatus] = mapped_column(
        Enum(StudyStatus, name="study_status", native_enum=False, length=20), default=StudyStatus.RECEIVED
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    callback_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    study_instance_uid: Mapped[str | None] = mapped_column(String(64), default=None)
    patient_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped on every write a reviewer makes; a stale version on sign-off is a 409.
    version: Mapped[int] = mapped_column(Integer, default=1)

    images: Mapped[list[Image]] = relationship(back_populates="study", order_by="Image.position")
    findings: Mapped[list[Finding]] = relationship(order_by="Finding.probability.desc()")
    evidence: Mapped[list[Evidence]] = relationship(order_by="Evidence.rank")
    reports: Mapped[list[ReportVersion]] = relationship(order_by="ReportVersion.version")
    heat_maps: Mapped[list[HeatMap]] = relationship(order_by="HeatMap.label", viewonly=True)


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("study_id", "position"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    # Content addresses (SHA-256) in the blob store: the upload as received, and the decoded,
    # windowed 8-bit grey image that models and the review UI read.
    original_sha256: Mapped[str] = mapped_column(String(64))
    pixels_sha256: Mapped[str] = mapped_column(String(64))
    source_format: Mapped[str] = mapped_column(String(10))  # dicom | png | jpeg
    filename: Mapped[str | None] = mapped_column(String(255), default=None)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    modality: Mapped[str | None] = mapped_column(String(16), default=None)
    view_position: Mapped[str | None] = mapped_column(String(16), default=None)
    sop_instance_uid: Mapped[str | None] = mapped_column(String(64), default=None)
    window_center: Mapped[float | None] = mapped_column(Float, default=None)
    window_width: Mapped[float | None] = mapped_column(Float, default=None)

    study: Mapped[Study] = relationship(back_populates="images")


class Finding(Base):
    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("image_id", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    positive: Mapped[bool] = mapped_column(Boolean)
    model_id: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(100))
    weights_sha256: Mapped[str] = mapped_column(String(64))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("study_id", "kind", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # knowledge | prior_report
    source_id: Mapped[str] = mapped_column(String(100))
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    text: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    retriever: Mapped[str] = mapped_column(String(100))


class ReportVersion(Base):
    __tablename__ = "report_versions"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # draft | signed | addendum | rejected
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    writer: Mapped[str | None] = mapped_column(String(100), default=None)
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    study_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(20), default=None)
    to_status: Mapped[str | None] = mapped_column(String(20), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditRowImmutable(Exception):
    pass


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_audit_changes(mapper: Any, connection: Any, target: AuditEvent) -> None:
    raise AuditRowImmutable("audit events are append-only")


class User(Base):
    """A person who logs in to the review UI (radiologist or admin); API clients use keys."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200), default=None)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class HeatMap(Base):
    """A saliency map for one positive finding on one image: PNG overlay and raw low-res array."""

    __tablename__ = "heat_maps"
    __table_args__ = (UniqueConstraint("image_id", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))
    overlay_sha256: Mapped[str] = mapped_column(String(64))  # PNG overlay in the blob store
    array_sha256: Mapped[str] = mapped_column(String(64))  # .npy of the low-resolution map
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallbackDelivery(Base):
    """An integrator callback owed: retried with back-off until delivered or given up."""

    __tablename__ = "callback_deliveries"
    __table_args__ = (UniqueConstraint("study_id", "event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(40))  # draft_ready | signed | amended | rejected | failed
    url: Mapped[str] = mapped_column(String(2000))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
