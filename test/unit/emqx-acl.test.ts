import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../../src/shared/paths.js';

/**
 * Issue 10 for EMQX (not run here: no EMQX in CI): the shipped deploy/emqx/acl.conf, read as EMQX 5's file
 * authorizer reads it — Erlang terms, first matching rule wins, `$share/<group>/` stripped before the
 * check (`$queue/` and `$stream/` are not), `${username}` substituted, `{eq, …}` literal — must refuse a
 * device the workers' shared subscription, other VINs, wildcards and retained publishes (a Will is
 * authorized like a publish), and keep the billing user's rights. And emqx.conf must put devices in a
 * zone without shared subscriptions.
 */

type Term = string | { atom: string } | Term[] | { tuple: Term[] };

/** A minimal reader for the Erlang terms of an ACL file: tuples, lists, strings, atoms. */
function parseTerms(text: string): Term[] {
  const source = text
    .split('\n')
    .map((line) => line.replace(/%%.*$/, ''))
    .join('\n');
  const tokens = source.match(/"(?:[^"\\]|\\.)*"|[{}[\],.]|[a-z_][a-z_0-9]*|\d+/g) ?? [];
  let at = 0;
  const read = (): Term => {
    const token = tokens[at++]!;
    if (token === '{' || token === '[') {
      const close = token === '{' ? '}' : ']';
      const items: Term[] = [];
      while (tokens[at] !== close) {
        items.push(read());
        if (tokens[at] === ',') at++;
      }
      at++;
      return token === '{' ? { tuple: items } : items;
    }
    if (token.startsWith('"')) return JSON.parse(token) as string;
    return { atom: token };
  };
  const rules: Term[] = [];
  while (at < tokens.length) {
    rules.push(read());
    if (tokens[at++] !== '.') throw new Error(`a rule must end with "." (token ${at})`);
  }
  return rules;
}

const atom = (term: Term | undefined): string | null => (term && typeof term === 'object' && 'atom' in term ? term.atom : null);
const tuple = (term: Term | undefined): Term[] | null => (term && typeof term === 'object' && 'tuple' in term ? term.tuple : null);

interface Request {
  username: string;
  action: 'subscribe' | 'publish';
  topic: string;
  retain?: boolean;
}

/** MQTT filter containment: every topic the requested filter can match is matched by the rule's. */
function covers(rule: string, requested: string): boolean {
  const r = rule.split('/');
  const q = requested.split('/');
  if (q[0]!.startsWith('$') !== r[0]!.startsWith('$')) return false; // wildcards never match `$…` topics
  for (let i = 0; i < r.length; i++) {
    if (r[i] === '#') return true;
    if (i >= q.length || q[i] === '#') return false;
    if (r[i] !== '+' && r[i] !== q[i]) return false;
  }
  return r.length === q.length;
}

function whoMatches(who: Term, request: Request): boolean {
  if (atom(who) === 'all') return true;
  const [kind, value] = tuple(who) ?? [];
  if (atom(kind) !== 'username' && atom(kind) !== 'user') throw new Error(`unexpected who ${JSON.stringify(who)}`);
  if (typeof value === 'string') return value === request.username;
  const [re, pattern] = tuple(value) ?? [];
  if (atom(re) !== 're' || typeof pattern !== 'string') throw new Error(`unexpected who ${JSON.stringify(who)}`);
  return new RegExp(pattern).test(request.username);
}

function actionMatches(action: Term, request: Request): boolean {
  if (atom(action) === 'all') return true;
  if (atom(action) !== null) return atom(action) === request.action;
  const [name, options] = tuple(action) ?? [];
  if (atom(name) !== request.action) return false;
  for (const option of (options as Term[] | undefined) ?? []) {
    const [key, value] = tuple(option) ?? [];
    if (atom(key) === 'retain' && atom(value) !== String(request.retain ?? false)) return false;
  }
  return true;
}

function topicMatches(topics: Term, request: Request): boolean {
  // EMQX authorizes a shared subscription by its real filter.
  const topic = request.topic.replace(/^\$share\/[^/]+\//, '');
  return (topics as Term[]).some((entry) => {
    const [eq, literal] = tuple(entry) ?? [];
    if (atom(eq) === 'eq') return literal === topic;
    return covers((entry as string).replaceAll('${username}', request.username), topic);
  });
}

function authorize(rules: Term[], request: Request): 'allow' | 'deny' {
  for (const rule of rules) {
    const [permission, who, action, topics] = tuple(rule) ?? [];
    const decision = atom(permission) as 'allow' | 'deny';
    if (who && atom(who) === 'all' && action === undefined) return decision; // {allow|deny, all}
    if (who && action && topics && whoMatches(who, request) && actionMatches(action, request) && topicMatches(topics, request)) return decision;
  }
  return 'deny'; // authorization.no_match = deny
}

const VIN = 'LSVAU2182N2007100';
const OTHER = 'LSVAU2184N2007101';

t.test('deploy/emqx/acl.conf refuses devices the share group, other VINs, wildcards and retained publishes', async (t) => {
  const rules = parseTerms(await readFile(path.join(PROJECT_ROOT, 'deploy/emqx/acl.conf'), 'utf8'));
  const last = tuple(rules[rules.length - 1]);
  t.same([atom(last?.[0]), atom(last?.[1]), last?.length], ['deny', 'all', 2], 'the last rule is {deny, all}');
  const device = (action: Request['action'], topic: string, retain = false) => authorize(rules, { username: VIN, action, topic, retain });
  const billing = (action: Request['action'], topic: string) => authorize(rules, { username: 'billing', action, topic });

  for (const filter of ['$share/billing/tbox/+/usage', '$share/g/tbox/#', 'tbox/+/usage', `tbox/${OTHER}/ack`, `tbox/${OTHER}/control/+`, 'tbox/+/ack', `tbox/${VIN}/#`, 'tbox/#', '#', '+/#', '$SYS/#', '$queue/q/tbox/+/usage', '$stream/s/tbox/+/usage', `tbox/${VIN}/usage`]) {
    t.equal(device('subscribe', filter), 'deny', `a device may not subscribe to ${filter}`);
  }
  for (const filter of [`tbox/${VIN}/ack`, `tbox/${VIN}/control/+`, `tbox/${VIN}/control/navigation`, `tbox/${VIN}/rules`]) {
    t.equal(device('subscribe', filter), 'allow', `a device may subscribe to its own ${filter}`);
  }
  t.equal(device('publish', `tbox/${VIN}/usage`), 'allow', 'a device publishes its own usage');
  t.equal(device('publish', `tbox/${VIN}/usage`, true), 'deny', 'never retained (also a retained Will)');
  for (const topic of [`tbox/${OTHER}/usage`, `tbox/${VIN}/ack`, `tbox/${OTHER}/control/navigation`, `tbox/${VIN}/rules`]) {
    t.equal(device('publish', topic), 'deny', `a device (or its Will) may not publish to ${topic}`);
  }
  t.equal(billing('subscribe', '$share/billing/tbox/+/usage'), 'allow', 'the workers keep their shared subscription');
  t.equal(billing('subscribe', '$share/staging/tbox/+/usage'), 'allow', 'in any share group');
  for (const topic of [`tbox/${VIN}/ack`, `tbox/${VIN}/control/navigation`, `tbox/${VIN}/rules`]) t.equal(billing('publish', topic), 'allow', `the workers publish ${topic}`);
  t.equal(authorize(rules, { username: 'someone', action: 'subscribe', topic: 'tbox/+/usage' }), 'deny', 'any other user is refused');
});

t.test('deploy/emqx/emqx.conf gives devices a zone without shared subscriptions', async (t) => {
  const conf = await readFile(path.join(PROJECT_ROOT, 'deploy/emqx/emqx.conf'), 'utf8');
  const devices = /zones\.devices\s*\{([\s\S]*?)\n\}/.exec(conf)?.[1] ?? '';
  t.match(devices, /\bshared_subscription\s*=\s*false\b/, 'zones.devices: shared_subscription = false ($share/… gets SUBACK 0x9E)');
  t.match(conf, /no_match\s*=\s*deny/, 'authorization.no_match = deny');
  const listeners = [...conf.matchAll(/listeners\.(\w+)\.(\w+)\s*\{([\s\S]*?)\n\}/g)].map(([, type, name, body]) => ({ name: `${type}.${name}`, zone: /zone\s*=\s*(\w+)/.exec(body!)?.[1] }));
  t.same(
    listeners.filter((l) => l.name !== 'tcp.billing').map((l) => l.zone),
    listeners.filter((l) => l.name !== 'tcp.billing').map(() => 'devices'),
    'every listener but the workers\' internal one is in the devices zone',
  );
  t.ok(listeners.some((l) => l.name === 'tcp.billing'), 'the workers have their own listener');
});
