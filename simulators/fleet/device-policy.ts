import { compileClassifier, type Classifier } from '../../src/classify/index.js';
import type { Flow } from './traffic-model.js';

/**
 * What a T-Box does with the platform's retained messages (DESIGN 3.3, 3.4): it classifies each new flow
 * with the rules it received (the catalog's app signatures, by DESIGN 4.1 — the service's own pure
 * classifier, compiled from the rules payload, not from the catalog files) and refuses the flows of an app
 * whose last applied control is `block`. Controls are applied by `rev`: one whose rev is not higher than
 * the last applied for its app is ignored; an empty retained payload (the app left the catalog) clears it.
 *
 * Pure: payloads in, decisions out; no clock, no I/O. One per vehicle.
 */

/** DESIGN 3.4 `apps[]` entry. */
interface RulesApp {
  id: string;
  hosts?: string[];
  cidrs?: string[];
  packages?: string[];
  ports?: number[] | null;
  blockable?: boolean;
}

export interface AppliedControl {
  action: 'block' | 'allow';
  rev: number;
  reasons: string[];
}

export type ControlOutcome = 'applied' | 'stale' | 'cleared' | 'invalid';

export interface Admission {
  /** the app the rules give the flow (`general` when none matches; the flow's own guess before any rules) */
  app: string;
  allowed: boolean;
}

interface CompiledRules {
  classifier: Classifier;
  unblockable: ReadonlySet<string>;
  catalogVersion: string | null;
}

/**
 * Every unit of a fleet receives the same rules payload: it is compiled once and shared (a fleet of 10,000
 * would otherwise hold 10,000 copies of the same tries). The few latest payloads are kept.
 */
const compiledRules = new Map<string, CompiledRules | null>();
const COMPILED_RULES_KEPT = 4;

function compileRules(text: string): CompiledRules | null {
  const cached = compiledRules.get(text);
  if (cached !== undefined) return cached;
  const compiled = parseRules(text);
  if (compiledRules.size >= COMPILED_RULES_KEPT) compiledRules.delete(compiledRules.keys().next().value!);
  compiledRules.set(text, compiled);
  return compiled;
}

function parseRules(text: string): CompiledRules | null {
  const rules = parseJson(text);
  if (!isObject(rules) || rules.v !== 1 || !Array.isArray(rules.apps)) return null;
  const apps = rules.apps.filter(isRulesApp);
  const classifier = compileClassifier(
    apps.map((app) => ({
      id: app.id,
      hosts: app.hosts ?? [],
      cidrs: app.cidrs ?? [],
      packages: app.packages ?? [],
      // DESIGN 3.4 sends null for "not port-restricted"; the classifier reads that as an absent list
      ...(Array.isArray(app.ports) ? { ports: app.ports } : {}),
    })),
  );
  return {
    classifier,
    unblockable: new Set(apps.filter((app) => app.blockable === false).map((app) => app.id)),
    catalogVersion: typeof rules.catalogVersion === 'string' ? rules.catalogVersion : null,
  };
}

export class DevicePolicy {
  private rules: CompiledRules | null = null;
  private readonly controls = new Map<string, AppliedControl>();

  /** The catalog version of the rules in force, null before any. */
  get catalogVersion(): string | null {
    return this.rules?.catalogVersion ?? null;
  }

  /** Applies a `tbox/{vin}/rules` payload; false (and nothing changes) when it is not DESIGN 3.4's shape. */
  applyRules(payload: Buffer | string): boolean {
    const compiled = compileRules(typeof payload === 'string' ? payload : payload.toString('utf8'));
    if (compiled === null) return false;
    this.rules = compiled;
    return true;
  }

  /**
   * Applies a `tbox/{vin}/control/{app}` payload (DESIGN 3.3): only when its rev is higher than the last
   * applied for that app (retained copies and republishes arrive again on every connect); an empty payload
   * is the platform clearing the topic (the app left the catalog), which means allowed.
   */
  applyControl(app: string, payload: Buffer | string): ControlOutcome {
    if (payload.length === 0) {
      this.controls.delete(app);
      return 'cleared';
    }
    const message = parseJson(payload);
    if (!isObject(message) || message.v !== 1 || (message.action !== 'block' && message.action !== 'allow') || !Number.isSafeInteger(message.rev)) return 'invalid';
    if (message.app !== undefined && message.app !== app) return 'invalid';
    const rev = message.rev as number;
    const current = this.controls.get(app);
    if (current !== undefined && rev <= current.rev) return 'stale';
    const reasons = Array.isArray(message.reasons) ? message.reasons.filter((r): r is string => typeof r === 'string') : [];
    this.controls.set(app, { action: message.action, rev, reasons });
    return 'applied';
  }

  /** The last applied control of `app`, undefined when none (no retained control = allowed). */
  control(app: string): AppliedControl | undefined {
    return this.controls.get(app);
  }

  /**
   * The app of a new flow by the rules received, and whether the unit may open it. Before any rules the
   * unit cannot tell apps apart, so it refuses nothing (refusing blindly could stop eCall or telemetry);
   * an app the rules mark `blockable: false` is never refused, whatever a control says.
   */
  admit(flow: Pick<Flow, 'app' | 'iface' | 'host' | 'ip' | 'port' | 'pkg'>): Admission {
    if (this.rules === null) return { app: flow.app, allowed: true };
    const app = this.rules.classifier.classify({
      iface: flow.iface,
      ...(flow.host !== undefined ? { host: flow.host } : {}),
      ...(flow.ip !== undefined ? { ip: flow.ip } : {}),
      ...(flow.port !== undefined ? { port: flow.port } : {}),
      ...(flow.pkg !== undefined ? { pkg: flow.pkg } : {}),
    }).app;
    if (this.rules.unblockable.has(app)) return { app, allowed: true };
    return { app, allowed: this.controls.get(app)?.action !== 'block' };
  }
}

function parseJson(payload: Buffer | string): unknown {
  try {
    return JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const stringList = (value: unknown) => value === undefined || (Array.isArray(value) && value.every((x) => typeof x === 'string'));

function isRulesApp(value: unknown): value is RulesApp {
  return (
    isObject(value) &&
    typeof value.id === 'string' &&
    stringList(value.hosts) &&
    stringList(value.cidrs) &&
    stringList(value.packages) &&
    (value.ports === undefined || value.ports === null || (Array.isArray(value.ports) && value.ports.every((p) => Number.isInteger(p))))
  );
}
