/**
 * An app as the classifier needs it: the field names of a catalog `apps` entry (DESIGN 4).
 * Structural on purpose, so the catalog module's zod-inferred type fits without a mapping.
 * The built-in apps `wifi-hotspot` and `general` are never in this list.
 */
export interface ClassifierApp {
  id: string;
  /** exact hosts, or `*.` + suffix (any depth below the suffix, never the apex) */
  hosts?: readonly string[];
  /** `network/prefix`, IPv4 or IPv6, host bits zero */
  cidrs?: readonly string[];
  packages?: readonly string[];
  /** when present, restricts every matcher of the app to these destination ports */
  ports?: readonly number[];
  /** default true */
  blockable?: boolean;
}

/** The fields of a usage record (DESIGN 3.1) that classification reads. */
export interface ClassifyRecord {
  iface?: 'tbox' | 'hotspot';
  host?: string;
  ip?: string;
  port?: number;
  pkg?: string;
}

/** Which matcher produced the app; the middle segment of a rule id. */
export type RuleKind = 'host' | 'suffix' | 'cidr' | 'package' | 'iface' | 'default';

/**
 * The result of classifying one record. Results are frozen and shared between records
 * (one object per rule, built at compile time), so classifying allocates no result.
 */
export interface Classification {
  readonly app: string;
  /** `<app>/<kind>/<pattern as written in the catalog>` (DESIGN 4.1) */
  readonly ruleId: string;
}

/** A catalog pattern that could not be parsed and was left out of the compiled classifier. */
export interface SkippedPattern {
  readonly app: string;
  readonly kind: 'host' | 'suffix' | 'cidr';
  readonly pattern: string;
  readonly reason: string;
}

export interface Classifier {
  /** DESIGN 4.1, steps 1–6 in order; the first step that yields an app wins. */
  classify(record: ClassifyRecord): Classification;
  /** Patterns left out because they failed to parse (the catalog validator should have caught them). */
  readonly skipped: readonly SkippedPattern[];
}
