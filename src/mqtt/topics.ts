/** Every MQTT topic of DESIGN 3 is built or parsed here and nowhere else. */
export const usageTopic = (vin: string) => `tbox/${vin}/usage`;
export const ackTopic = (vin: string) => `tbox/${vin}/ack`;
export const controlTopic = (vin: string, app: string) => `tbox/${vin}/control/${app}`;
export const rulesTopic = (vin: string) => `tbox/${vin}/rules`;
/** The ingest subscription: every vehicle's usage (external brokers: behind `$share/<group>/`). */
export const USAGE_FILTER = 'tbox/+/usage';
export const sharedUsageFilter = (group: string) => `$share/${group}/${USAGE_FILTER}`;

/** `tbox/{vin}/usage` → vin, else null. */
export function vinOfUsageTopic(topic: string): string | null {
  const parts = topic.split('/');
  return parts.length === 3 && parts[0] === 'tbox' && parts[2] === 'usage' && parts[1] ? parts[1] : null;
}

/** `tbox/{vin}/control/{app}` → its parts, else null. */
export function parseControlTopic(topic: string): { vin: string; app: string } | null {
  const parts = topic.split('/');
  return parts.length === 4 && parts[0] === 'tbox' && parts[2] === 'control' && parts[1] && parts[3] ? { vin: parts[1], app: parts[3] } : null;
}
