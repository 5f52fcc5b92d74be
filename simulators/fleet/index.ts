/** The fleet simulator's programmatic API (tests and the benchmark drive it in-process). */
export { runFleet, type FleetOptions, type FleetProgress, type FleetSummary, type VehicleTotals } from './fleet.js';
export { Vehicle, simulatedStart, simNow, realAt, type SimulatedTime, type TrafficSource, type VehicleOptions, type VehicleStats } from './vehicle.js';
export { DevicePolicy, type Admission, type AppliedControl, type ControlOutcome } from './device-policy.js';
export { UnackedWindow, PROTOCOL_WINDOW, type InFlight, type WindowOptions } from './unacked-window.js';
export { TrafficModel, type Flow } from './traffic-model.js';
export { deriveCatalogTraffic, loadCatalogTraffic, behaviourOf, type AppTraffic, type Behaviour, type CatalogTraffic, type Endpoint } from './catalog-traffic.js';
export { buildUsagePayload, splitIntoMessages, formatTimestamp, toWireRecord, parseAck, recordBytes, MAX_PAYLOAD_BYTES, type SimRecord, type UsageMessage, type UsageAck } from './usage-message.js';
export { StateStore, SEQ_LEASE_BLOCK, type VehicleState, type PendingMessage } from './state-store.js';
export { createRng, type Rng } from './prng.js';
export { LatencyHistogram, type LatencySummary } from './latency-histogram.js';
export { fleetVin, fleetIccid } from './identity.js';
export { adminClient, mapLimit, AdminApiError, type AdminClient, type VehicleSpec } from './admin-client.js';
export { mqttTransport, type Transport, type DeviceConnection, type DeviceIdentity, type ConnectionEvents } from './transport.js';
export { realTimers, manualTimers, type Timers, type ManualTimers } from './timers.js';
export { formatSummary, summaryToJson } from './report.js';
