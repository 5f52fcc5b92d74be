import t from 'tap';
import { ConfigError, loadConfig } from '../../src/shared/config.js';

// TRUST_PROXY (issue 10): the addresses of the reverse proxies whose X-Forwarded-For / -Proto / -Host are
// believed. Off by default; only explicit addresses or networks, never "trust everyone".

t.test('off by default', async (t) => {
  t.equal(loadConfig({}).TRUST_PROXY, undefined);
  t.equal(loadConfig({ TRUST_PROXY: '' }).TRUST_PROXY, undefined, 'empty means unset');
});

t.test('a comma list of addresses, networks and the named ranges', async (t) => {
  t.same(loadConfig({ TRUST_PROXY: '127.0.0.1' }).TRUST_PROXY, ['127.0.0.1']);
  t.same(loadConfig({ TRUST_PROXY: ' 10.0.0.0/8, 192.168.1.7 ,::1,fd00::/8 ' }).TRUST_PROXY, ['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8']);
  t.same(loadConfig({ TRUST_PROXY: 'loopback,uniquelocal' }).TRUST_PROXY, ['loopback', 'uniquelocal']);
  t.same(loadConfig({ TRUST_PROXY: '::ffff:10.1.2.3' }).TRUST_PROXY, ['10.1.2.3'], 'IPv4-mapped addresses are taken as IPv4');
});

t.test('trusting everyone, hop counts and malformed entries are refused with the reason', async (t) => {
  for (const value of ['true', '*', '1', '2', '0.0.0.0/0', '::/0', 'proxy.internal', '10.0.0.1/8', '10.0.0.0/33', '127.0.0.1,,x']) {
    const error = t.throws(() => loadConfig({ TRUST_PROXY: value }), `refused: ${value}`) as ConfigError;
    t.type(error, ConfigError);
    t.match(error.problems.join('\n'), /^TRUST_PROXY: /m, `${value}: reported under TRUST_PROXY`);
  }
  t.match((t.throws(() => loadConfig({ TRUST_PROXY: 'true' })) as ConfigError).problems[0], /list the proxy addresses/);
});
