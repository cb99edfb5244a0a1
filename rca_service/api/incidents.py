"""Incidents: list, one, and the time series behind its page's plots."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from rca_service.api.deps import ServiceDep, ViewerDep
from rca_service.api.serialize import jsonable
from rca_service.errors import InputError

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

_STATUSES = ("open", "resolved")


@router.get("")
def list_incidents(service: ServiceDep, who: ViewerDep, start: float | None = None, end: float | None = None,
                   name: Annotated[str | None, Query(alias="service")] = None, status: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict:
    """Incidents newest first, filtered by time range, service and status."""
    if status is not None and status not in _STATUSES:
        raise InputError(f"status must be one of {', '.join(_STATUSES)}")
    if start is not None and end is not None and end <= start:
        raise InputError("end must be after start")
    incidents = list(service.list_incidents(start=start, end=end, service=name, status=status))
    return {"incidents": [jsonable(i) for i in incidents[:limit]], "count": len(incidents)}


@router.get("/{incident_id}")
def get_incident(incident_id: str, service: ServiceDep, who: ViewerDep) -> dict:
    return jsonable(service.get_incident(incident_id))


@router.get("/{incident_id}/timeseries")
def incident_timeseries(incident_id: str, service: ServiceDep, who: ViewerDep,
                        name: Annotated[str | None, Query(alias="service")] = None,
                        signals: Annotated[str | None, Query(description="comma-separated signal names")] = None,
                        pad: Annotated[float, Query(ge=0, le=86400)] = 900.0) -> dict:
    """One service's signals around the incident: {"incident_id", "service", "step", "times",
    "series", "window": [start, end]}. Default service: the incident's most anomalous one;
    default signals: those that scored for that service in the incident."""
    incident = service.get_incident(incident_id)
    anomalies = incident.services or {}
    if name is None:
        if not anomalies:
            raise InputError("the incident has no anomalous service; name one with ?service=")
        name = max(anomalies.values(), key=lambda a: a.peak_score).service
    wanted = [s.strip() for s in signals.split(",") if s.strip()] if signals else None
    if wanted is None and name in anomalies:
        wanted = [s.signal for s in anomalies[name].signals] or None
    window_end = incident.end if incident.end is not None else max(incident.start, _latest(anomalies, incident.start))
    ts = jsonable(service.timeseries(name, incident.start - pad, window_end + pad, signals=wanted))
    return {"incident_id": incident_id, "service": name, **{k: v for k, v in ts.items() if k != "service"},
            "window": [incident.start, incident.end]}


def _latest(anomalies: dict, default: float) -> float:
    return max((a.last_seen for a in anomalies.values()), default=default)
