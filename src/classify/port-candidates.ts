import type { Classification } from './types.js';

/**
 * The apps that share one pattern (one exact host, one suffix, one CIDR or one package),
 * with their port restrictions (DESIGN 4.1: apps whose `ports` exclude the record are removed
 * before choosing; a record without a port never matches a port-restricted app).
 *
 * A valid catalog shares a pattern only between apps whose port sets are disjoint, so at most one
 * candidate fits any port. For an invalid catalog the earliest app in catalog order that admits the
 * port wins, which keeps the result deterministic.
 */
export class PortCandidates {
  /** the earliest unrestricted app, valid for every record */
  private unrestricted: Classification | null = null;
  /** port → the earliest restricted app admitting it (only apps listed before `unrestricted`) */
  private byPort: Map<number, Classification> | null = null;

  add(match: Classification, ports: ReadonlySet<number> | null): void {
    // an app listed after an unrestricted one can never be the earliest admitting app
    if (this.unrestricted !== null) return;
    if (ports === null) {
      this.unrestricted = match;
      return;
    }
    this.byPort ??= new Map();
    for (const port of ports) {
      if (!this.byPort.has(port)) this.byPort.set(port, match);
    }
  }

  /** The candidate valid for a record with this port, or null when every candidate is excluded. */
  pick(port: number | undefined): Classification | null {
    if (port !== undefined && this.byPort !== null) {
      const match = this.byPort.get(port);
      if (match !== undefined) return match;
    }
    return this.unrestricted;
  }
}
