import { readFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import t from 'tap';
import { PROJECT_ROOT } from '../../src/shared/paths.js';

/**
 * package.json's `engines.node` is the range every locked dependency declares it supports, so it is a true
 * statement; the Dockerfile and CI run a Node inside it, and the compiler targets what its oldest Node implements.
 */
const read = (file: string) => readFileSync(path.join(PROJECT_ROOT, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; devDependencies: Record<string, string> };
const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };
const range = pkg.engines.node;

/**
 * Declared ranges narrower than `range` that we accept, with the reason. Each is tied to the exact declaration,
 * so a new version that declares something else is judged again.
 */
const accepted: Record<string, { declared: string; because: string }> = {
  cookie: {
    declared: '>=22',
    because:
      'cookie@2 (via fastify → light-my-request and @fastify/cookie) is ESM-only plain JavaScript; its >=22 is a support ' +
      'policy (jshttp/cookie#273), not an API need. CommonJS callers load it with require(esm), on by default since ' +
      'Node 20.19.0 — one reason engines starts there — and CI runs the whole suite on Node 20.',
  },
};

t.test('engines.node is covered by every locked dependency’s declared engines', async (t) => {
  t.ok(semver.validRange(range), `engines.node "${range}" is a valid range`);
  const narrower: string[] = [];
  for (const [location, entry] of Object.entries(lock.packages)) {
    const declared = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (!location || !declared) continue;
    const name = location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (semver.subset(range, declared)) continue;
    const exception = accepted[name];
    if (exception?.declared === declared) continue;
    narrower.push(`${name}@${entry.version} declares node ${declared}`);
  }
  t.same(narrower, [], `every dependency supports ${range} (or is accepted above, with its reason)`);
});

t.test('each accepted exception still applies, and only to Node 20', async (t) => {
  for (const [name, { declared }] of Object.entries(accepted)) {
    const locked = lock.packages[`node_modules/${name}`];
    t.ok(locked, `${name} is still locked (remove the exception otherwise)`);
    const stillNarrower = !semver.subset(range, declared);
    t.ok(stillNarrower, `${name}'s declaration is still narrower than engines (remove the exception otherwise)`);
    const beyond20 = range.split('||').map((part) => part.trim()).filter((part) => semver.minVersion(part)!.major > 20);
    t.ok(semver.subset(beyond20.join(' || '), declared), `${name} declares support for everything in engines after Node 20`);
  }
});

t.test('the Dockerfile and CI run a Node inside engines, the same major', async (t) => {
  const images = [...read('Dockerfile').matchAll(/^FROM node:(\d+)[-\w.]*/gm)].map((m) => Number(m[1]));
  t.ok(images.length >= 2, 'the build and runtime stages are node images');
  const ci = [...read('.ci/run').matchAll(/^NODE_LTS=(\d+)$/gm)].map((m) => Number(m[1]));
  t.equal(ci.length, 1, '.ci/run installs a second Node (NODE_LTS) from the registry');
  for (const major of [...images, ...ci]) t.ok(semver.subset(`^${major}.0.0`, range), `Node ${major} is within ${range}`);
  t.same(new Set([...images, ...ci]).size, 1, 'the image and the CI run the same major (CI tests what production runs)');
  t.ok(images.every((major) => major % 2 === 0), 'an LTS line (even major)');
});

t.test('@types/node and the compiler target are those of the oldest Node in engines', async (t) => {
  const oldest = semver.minVersion(range)!;
  t.equal(semver.minVersion(pkg.devDependencies['@types/node']!)!.major, oldest.major, '@types/node describes the oldest supported Node (no API it lacks)');
  // The newest ECMAScript edition each Node line implements completely.
  const edition: Record<number, string> = { 20: 'ES2023', 22: 'ES2024', 24: 'ES2024' };
  const tsconfig = JSON.parse(read('tsconfig.json').replace(/^\s*\/\/.*$/gm, '')) as { compilerOptions: { target: string; lib: string[] } };
  t.equal(tsconfig.compilerOptions.target, edition[oldest.major], `target is what Node ${oldest.major} implements`);
  t.same(tsconfig.compilerOptions.lib, [edition[oldest.major]], `lib is what Node ${oldest.major} implements`);
});
