"""A synthetic microservice system with labelled fault injection.

    Simulation(SimConfig(n_services, seed, ...))    .tick() -> RecordBatch, .inject(kind, service, at)
    .run_live(endpoint, speed, duration, on_tick)   OTLP/HTTP through the OpenTelemetry SDK, in a thread
    SimulatorControl                                active_faults / clear_fault / restart / scale_out / rollback
    write_dataset(out, DatasetConfig(cases=N))      labelled cases in the RCAEval multi-source layout
"""

from rca_service.simulator.config import FaultKind, SimConfig
from rca_service.simulator.control import SimulatorControl
from rca_service.simulator.dataset import DatasetConfig, write_dataset
from rca_service.simulator.engine import Simulation
from rca_service.simulator.faults import Fault
from rca_service.simulator.topology import Topology, generate_topology

__all__ = [
    "DatasetConfig", "Fault", "FaultKind", "SimConfig", "Simulation", "SimulatorControl", "Topology",
    "generate_topology", "write_dataset",
]
