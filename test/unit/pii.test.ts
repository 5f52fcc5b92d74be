import { createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { createPiiVault, maskIdNumber, maskName, maskPhone, PiiDecryptError } from '../../src/shared/pii.js';

const KEY = Buffer.alloc(32, 7);
const OTHER = Buffer.alloc(32, 9);

t.test('AES-256-GCM with an HKDF key (info "enc"), readable by an independent implementation', async (t) => {
  const vault = createPiiVault(KEY);
  const ciphertext = vault.encrypt('张小三', 'name');
  const [format, keyId, iv, body] = ciphertext.split('.') as [string, string, string, string];
  t.equal(format, 'pii1');
  t.equal(keyId, vault.keyId);
  t.match(keyId, /^[0-9a-f]{8}$/);
  const enc = Buffer.from(hkdfSync('sha256', KEY, Buffer.from('tbox-billing/pii/v1'), 'enc', 32));
  const raw = Buffer.from(body, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', enc, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(`pii1|${keyId}|name`));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  t.equal(Buffer.concat([decipher.update(raw.subarray(0, raw.length - 16)), decipher.final()]).toString('utf8'), '张小三');
  t.equal(Buffer.from(iv, 'base64url').length, 12, '96-bit IV');
});

t.test('round trips, fresh IVs, authentication', async (t) => {
  const vault = createPiiVault(KEY);
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => vault.decrypt(vault.encrypt(text, 'name'), 'name') === text),
  );
  t.not(vault.encrypt('13800000000', 'phone'), vault.encrypt('13800000000', 'phone'), 'a fresh IV every time');
  const ciphertext = vault.encrypt('110105194912310021', 'idNumber');
  t.throws(() => vault.decrypt(ciphertext, 'name'), PiiDecryptError, 'the purpose is authenticated: no moving a value to another column');
  const parts = ciphertext.split('.');
  const body = Buffer.from(parts[3]!, 'base64url');
  body[0] = body[0]! ^ 1;
  t.throws(() => vault.decrypt([...parts.slice(0, 3), body.toString('base64url')].join('.'), 'idNumber'), PiiDecryptError, 'tampering is detected');
  t.throws(() => vault.decrypt('plain text', 'name'), PiiDecryptError);
  t.throws(() => createPiiVault(OTHER).decrypt(ciphertext, 'idNumber'), /no key with id/, 'another key cannot read it');
  t.throws(() => createPiiVault(Buffer.alloc(16)), /32 bytes/);
});

t.test('rotation: the previous key decrypts and re-encryption moves values to the current key', async (t) => {
  const old = createPiiVault(OTHER);
  const stored = old.encrypt('李四', 'name');
  const rotated = createPiiVault(KEY, OTHER);
  t.equal(rotated.keyIdOf(stored), old.keyId);
  t.ok(rotated.isStale(stored));
  t.equal(rotated.decrypt(stored, 'name'), '李四');
  const moved = rotated.reencrypt(stored, 'name');
  t.equal(rotated.keyIdOf(moved), rotated.keyId);
  t.notOk(rotated.isStale(moved));
  t.equal(rotated.reencrypt(moved, 'name'), moved, 'current ciphertexts are left alone');
  t.equal(createPiiVault(KEY).decrypt(moved, 'name'), '李四', 'readable once the previous key is gone');
  t.equal(rotated.lookupHashes('x').length, 2, 'lookups try both keys during a rotation');
  t.same(rotated.lookupHashes('x')[1], old.lookupHash('x'));
  t.ok(rotated.digestMatches('body', old.digest('body')), 'idempotency digests of the previous key still match');
});

t.test('lookup hashes: HMAC-SHA-256 with the HKDF "idx" key over the normalised value', async (t) => {
  const vault = createPiiVault(KEY);
  const idx = Buffer.from(hkdfSync('sha256', KEY, Buffer.from('tbox-billing/pii/v1'), 'idx', 32));
  t.same(vault.lookupHash('11010519491231002X'), createHmac('sha256', idx).update('11010519491231002X').digest());
  t.same(vault.lookupHash(' 11010519491231002x '), vault.lookupHash('11010519491231002X'), 'trimmed and upper-cased');
  t.notSame(vault.lookupHash('11010519491231002X'), createPiiVault(randomBytes(32)).lookupHash('11010519491231002X'), 'keyed');
  t.notSame(vault.digest('a'), vault.lookupHash('a'), 'digests and lookups are separate domains');
});

t.test('masks (DESIGN 6)', async (t) => {
  const cases: Array<[(v: string) => string, string, string]> = [
    [maskIdNumber, '11010519491231123X', '1101**********123X'],
    [maskIdNumber, '91310000MA1FL5LQ3E', '9131**********LQ3E'],
    [maskIdNumber, '1234567', '*****67'],
    [maskName, '张三', '张*'],
    [maskName, '张小三', '张*三'],
    [maskName, '欧阳小明', '欧**明'],
    [maskName, '张', '*'],
    [maskName, '𠀋小明', '𠀋*明'],
    [maskName, 'Li Lei', 'L****i'],
    [maskPhone, '13800000000', '138****0000'],
    [maskPhone, '1440000000123', '144******0123'],
    [maskPhone, '12345', '***45'],
  ];
  for (const [mask, input, expected] of cases) t.equal(mask(input), expected, `${mask.name}(${input})`);
  fc.assert(
    fc.property(fc.string({ minLength: 3, maxLength: 30 }), (name) => {
      const masked = maskName(name);
      return Array.from(masked).length === Array.from(name.trim()).length || name.trim().length < 3;
    }),
  );
});
