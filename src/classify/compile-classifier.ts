import { normalizeHost } from '../shared/host.js';
import { parseCidr, parseIp } from '../shared/ip.js';
import { CidrTrie } from './cidr-trie.js';
import { PortCandidates } from './port-candidates.js';
import { SuffixTrie } from './suffix-trie.js';
import type { Classification, Classifier, ClassifierApp, ClassifyRecord, RuleKind, SkippedPattern } from './types.js';

const HOTSPOT: Classification = Object.freeze({ app: 'wifi-hotspot', ruleId: 'wifi-hotspot/iface/hotspot' });
const GENERAL: Classification = Object.freeze({ app: 'general', ruleId: 'general/default/*' });

const SUFFIX_PREFIX = '*.';

function ruleMatch(app: string, kind: RuleKind, pattern: string): Classification {
  return Object.freeze({ app, ruleId: `${app}/${kind}/${pattern}` });
}

function addToMap(
  map: Map<string, PortCandidates>,
  key: string,
  match: Classification,
  ports: ReadonlySet<number> | null,
): void {
  let candidates = map.get(key);
  if (candidates === undefined) {
    candidates = new PortCandidates();
    map.set(key, candidates);
  }
  candidates.add(match, ports);
}

/**
 * Compiles the catalog's apps once per catalog version into lookup structures whose per-record
 * cost does not grow with the number of rules: a Map of exact hosts, a reversed-label trie of
 * `*.` suffixes, one binary trie per IP family, a Map of packages.
 *
 * Patterns are normalised like records (DESIGN 4.1); rule ids keep the pattern as written in the
 * catalog. A pattern that fails to parse is skipped and reported in `skipped`, never thrown.
 */
export function compileClassifier(apps: readonly ClassifierApp[]): Classifier {
  const exactHosts = new Map<string, PortCandidates>();
  const suffixes = new SuffixTrie();
  const ipv4 = new CidrTrie();
  const ipv6 = new CidrTrie();
  const packages = new Map<string, PortCandidates>();
  const skipped: SkippedPattern[] = [];

  for (const app of apps) {
    const ports = app.ports === undefined ? null : new Set(app.ports);

    for (const pattern of app.hosts ?? []) {
      const trimmed = pattern.trim();
      if (trimmed.startsWith(SUFFIX_PREFIX)) {
        const suffix = normalizeHost(trimmed.slice(SUFFIX_PREFIX.length));
        if (suffix === null || suffix.includes('*')) {
          skipped.push({ app: app.id, kind: 'suffix', pattern, reason: 'suffix fails host normalisation' });
          continue;
        }
        suffixes.add(suffix, ruleMatch(app.id, 'suffix', pattern), ports);
      } else {
        const host = normalizeHost(trimmed);
        // a `*` anywhere but a leading `*.` is no pattern of DESIGN 4 (and no real host)
        if (host === null || host.includes('*')) {
          skipped.push({ app: app.id, kind: 'host', pattern, reason: 'host fails host normalisation' });
          continue;
        }
        addToMap(exactHosts, host, ruleMatch(app.id, 'host', pattern), ports);
      }
    }

    for (const pattern of app.cidrs ?? []) {
      const cidr = parseCidr(pattern);
      if (typeof cidr === 'string') {
        skipped.push({ app: app.id, kind: 'cidr', pattern, reason: cidr });
        continue;
      }
      const trie = cidr.family === 4 ? ipv4 : ipv6;
      trie.add(cidr.bytes, cidr.prefixLength, ruleMatch(app.id, 'cidr', pattern), ports);
    }

    // package names are matched exactly, as the T-Box reports them
    for (const pattern of app.packages ?? []) {
      addToMap(packages, pattern, ruleMatch(app.id, 'package', pattern), ports);
    }
  }

  const hasHostRules = exactHosts.size > 0 || !suffixes.isEmpty;
  const hasCidrRules = !ipv4.isEmpty || !ipv6.isEmpty;

  function classify(record: ClassifyRecord): Classification {
    // 1. hotspot traffic stays hotspot traffic whatever it talks to
    if (record.iface === 'hotspot') return HOTSPOT;
    const port = record.port;

    if (hasHostRules && record.host !== undefined) {
      const host = normalizeHost(record.host);
      // a host failing conversion matches no host rule and falls through to ip / pkg
      if (host !== null) {
        // 2. exact host
        const exact = exactHosts.get(host)?.pick(port);
        if (exact) return exact;
        // 3. longest `*.` suffix
        const suffix = suffixes.lookup(host, port);
        if (suffix !== null) return suffix;
      }
    }

    // 4. longest CIDR
    if (hasCidrRules && record.ip !== undefined) {
      const ip = parseIp(record.ip);
      if (ip !== null) {
        const cidr = (ip.family === 4 ? ipv4 : ipv6).lookup(ip.bytes, port);
        if (cidr !== null) return cidr;
      }
    }

    // 5. package
    if (record.pkg !== undefined) {
      const pkg = packages.get(record.pkg)?.pick(port);
      if (pkg) return pkg;
    }

    // 6. nothing matched
    return GENERAL;
  }

  return { classify, skipped: Object.freeze(skipped) };
}
