export { createTimeseriesExporter, TIMESERIES_DEFAULTS, type ExportRun, type TimeseriesExporter, type TimeseriesExporterOptions } from './exporter.js';
export { EXPORT_JOB } from './repository.js';
export { formatUsageLine, USAGE_MEASUREMENT, type UsagePoint } from './usage-line.js';
