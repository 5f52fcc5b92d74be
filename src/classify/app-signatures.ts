import type { ClassifierApp } from './types.js';

/** One entry of the `apps` array of the retained rules message (DESIGN 3.4). */
export interface AppSignature {
  id: string;
  hosts: string[];
  cidrs: string[];
  packages: string[];
  /**
   * null when the app is not port-restricted. Not `[]`: an empty list reads as "restricted to no
   * port", and a device doing `ports.includes(port)` would then drop every flow of the app.
   */
  ports: number[] | null;
  blockable: boolean;
}

/**
 * The app signatures the T-Box needs to classify flows by DESIGN 4.1 and refuse a blocked app's:
 * patterns exactly as written in the catalog (the device normalises them as 4.1 says, and rule ids
 * carry the same text), no prices, no sponsors. Built-in apps are not listed: `wifi-hotspot` is the
 * hotspot interface and `general` is whatever matches no listed app.
 */
export function appSignatures(apps: readonly ClassifierApp[]): AppSignature[] {
  return apps.map((app) => ({
    id: app.id,
    hosts: [...(app.hosts ?? [])],
    cidrs: [...(app.cidrs ?? [])],
    packages: [...(app.packages ?? [])],
    ports: app.ports === undefined ? null : [...app.ports],
    blockable: app.blockable ?? true,
  }));
}
