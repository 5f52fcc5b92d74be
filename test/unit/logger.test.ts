import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { chooseLogFormat } from '../../src/shared/logger.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';

/** Logs are for a person in a dev terminal and for log storage everywhere else (issue 14). */
t.test('pretty only in dev mode on a terminal; JSON everywhere else', async (t) => {
  const cases: Array<[devMode: boolean, isTTY: boolean, expected: 'pretty' | 'json']> = [
    [true, true, 'pretty'],
    [true, false, 'json'], // dev mode piped to a file or another program
    [false, true, 'json'], // production (DATABASE_URL or MQTT_URL set), even at a terminal
    [false, false, 'json'],
  ];
  for (const [devMode, isTTY, expected] of cases) t.equal(chooseLogFormat({ devMode, isTTY }), expected, `devMode ${devMode}, tty ${isTTY}`);
});

t.test('the pretty logger writes readable lines and keeps the redaction rules', async (t) => {
  // A child process, so the pretty stream writes to a real stdout as in the service.
  const script = `
    import { createLogger } from ${JSON.stringify(pathToFileURL(path.join(PROJECT_ROOT, 'src/shared/logger.ts')).href)};
    const logger = createLogger('info', undefined, { format: 'pretty' });
    logger.info({ deviceSecret: 'abc-secret-1', req: { headers: { authorization: 'Bearer tok-2' } } }, 'vehicle registered');
  `;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
  t.equal(child.status, 0, child.stderr);
  t.match(child.stdout, /INFO.*vehicle registered/, 'a level and a message, not a JSON object');
  t.notOk(child.stdout.trimStart().startsWith('{'), 'not JSON');
  t.notMatch(child.stdout, /abc-secret-1|tok-2/, 'secrets redacted');
  t.match(child.stdout, /\[redacted\]/);
});
