/**
 * The device ACL of DESIGN 3.0, as pure functions of (authenticated VIN, topic or filter).
 * A device may publish only `tbox/{vin}/usage` (never retained) and subscribe only to filters every one
 * of whose matching topics it may read: its ack, rules and control topics.
 */
export type PublishDecision = 'allow' | 'forbidden' | 'retained-usage';

export function authorizeDevicePublish(vin: string, topic: string, retain: boolean): PublishDecision {
  if (topic !== `tbox/${vin}/usage`) return 'forbidden';
  return retain ? 'retained-usage' : 'allow';
}

export function authorizeDeviceSubscribe(vin: string, filter: string): boolean {
  const levels = filter.split('/');
  if (levels[0] !== 'tbox' || levels[1] !== vin) return false; // also refuses `#`, `+/…`, `$share/…`, `$SYS/…`
  const rest = levels.slice(2);
  if (rest.length === 1) return rest[0] === 'ack' || rest[0] === 'rules';
  if (rest.length === 2 && rest[0] === 'control') {
    const app = rest[1]!;
    // `control/+`, `control/#` or one app; a literal app never contains wildcards.
    return app === '+' || app === '#' || (app.length > 0 && !app.includes('+') && !app.includes('#'));
  }
  return false;
}
