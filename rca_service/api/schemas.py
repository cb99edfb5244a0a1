"""Request bodies of the JSON API (pydantic at the edge; extra fields refused)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QueryRequest(BaseModel):
    """POST /api/v1/query."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=1000, description="the question, in plain language")
    now: float | None = Field(None, description="answer as if asked at this unix time (default: now)")


class RejectRequest(BaseModel):
    """POST /api/v1/remediations/{id}/reject."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=1000)


class DecisionRequest(BaseModel):
    """POST /api/v1/remediations/{id}/approve|apply (no fields yet; an empty object is fine)."""

    model_config = ConfigDict(extra="forbid")
