import t from 'tap';
import { nextAttemptAt } from '../../src/webhooks/events.js';
import { generateSecret, signWebhook, verifyWebhook } from '../../src/webhooks/signature.js';
import { checkEndpointUrl } from '../../src/webhooks/target.js';

// The Standard Webhooks specification's published example (its reference libraries test against it).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

t.test('the signature matches the Standard Webhooks test vector', async (t) => {
  t.equal(signWebhook(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body), VECTOR.signature);
  const headers = { id: VECTOR.id, timestamp: String(VECTOR.timestamp), signature: VECTOR.signature };
  t.ok(verifyWebhook(VECTOR.secret, headers, VECTOR.body, VECTOR.timestamp + 10));
  t.ok(verifyWebhook(VECTOR.secret, { ...headers, signature: `v1,bm90IGl0 ${VECTOR.signature}` }, VECTOR.body, VECTOR.timestamp), 'one of several signatures');
  t.notOk(verifyWebhook(VECTOR.secret, headers, `${VECTOR.body} `, VECTOR.timestamp), 'another body');
  t.notOk(verifyWebhook(VECTOR.secret, { ...headers, id: 'msg_other' }, VECTOR.body, VECTOR.timestamp), 'another id');
  t.notOk(verifyWebhook(VECTOR.secret, headers, VECTOR.body, VECTOR.timestamp + 301), 'a stale timestamp');
  t.notOk(verifyWebhook(generateSecret(), headers, VECTOR.body, VECTOR.timestamp), 'another secret');
});

t.test('generated secrets are whsec_ and 24 random bytes', async (t) => {
  const a = generateSecret();
  t.match(a, /^whsec_[A-Za-z0-9+/]{32}$/);
  t.not(a, generateSecret());
});

t.test('backoff: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, never past the deadline', async (t) => {
  const deadline = 86_400_000;
  t.same([1, 2, 3, 4, 5, 6, 7].map((n) => nextAttemptAt(n, 0, deadline)), [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
  t.equal(nextAttemptAt(6, 80_000_000, deadline), deadline, 'the last attempt at the deadline');
  t.equal(nextAttemptAt(7, deadline, deadline), null, 'then failed');
});

t.test('endpoint URLs: http(s) only; private targets only when allowed', async (t) => {
  t.ok(checkEndpointUrl('https://hooks.example/x', false).ok);
  for (const url of ['ftp://hooks.example/x', 'javascript:alert(1)', 'https://user:pw@hooks.example/', 'nope']) t.notOk(checkEndpointUrl(url, true).ok, url);
  for (const url of ['http://127.0.0.1:8080/', 'http://localhost/', 'http://10.0.0.5/', 'http://169.254.169.254/latest', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://192.168.1.1/']) {
    t.notOk(checkEndpointUrl(url, false).ok, `${url} refused in production`);
    t.ok(checkEndpointUrl(url, true).ok, `${url} allowed in dev`);
  }
});
