import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Personal data at rest (DESIGN 6, 5.1): names, ID numbers, phone numbers and agents' identities.
 *
 * - Encryption: AES-256-GCM (NIST SP 800-38D) with a random 96-bit IV per value and a 128-bit tag. The key
 *   is derived from `PII_KEY` by HKDF-SHA-256 (RFC 5869) with info `enc`; the *purpose* of a value
 *   (`name`, `idNumber`, `phone`, …) is authenticated as associated data, so a ciphertext copied into
 *   another column does not decrypt.
 * - Every ciphertext carries the id of its key: `pii1.<keyId>.<iv>.<ciphertext‖tag>` (base64url). With
 *   `PII_KEY_PREVIOUS` set, old ciphertexts still decrypt and {@link PiiVault.reencrypt} moves them to
 *   the current key.
 * - Lookup: HMAC-SHA-256 with a second key derived with info `idx` over the normalised value, so the
 *   database can find "every card of this ID number" without ever holding the number in clear. During a
 *   rotation, look up with {@link PiiVault.lookupHashes} (current and previous key).
 *
 * Nothing here logs; callers must never log plaintexts either (see the masks below for responses).
 */

const FORMAT = 'pii1';
const HKDF_SALT = Buffer.from('tbox-billing/pii/v1');
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What a ciphertext holds (authenticated as associated data); `webhookSecret`: a webhook endpoint's signing secret (src/webhooks). */
export type PiiPurpose = 'name' | 'idNumber' | 'phone' | 'agentName' | 'agentIdNumber' | 'webhookSecret';

interface DerivedKey {
  id: string;
  enc: Buffer;
  idx: Buffer;
}

function derive(key: Buffer): DerivedKey {
  if (key.length !== 32) throw new RangeError(`a PII key must be 32 bytes, got ${key.length}`);
  const enc = Buffer.from(hkdfSync('sha256', key, HKDF_SALT, 'enc', 32));
  const idx = Buffer.from(hkdfSync('sha256', key, HKDF_SALT, 'idx', 32));
  // The key id names the key without revealing it: a hash of the derived encryption key, 8 hex digits.
  const id = createHash('sha256').update('key-id').update(enc).digest('hex').slice(0, 8);
  return { id, enc, idx };
}

export class PiiDecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PiiDecryptError';
  }
}

/** Lookup values are normalised before hashing: trimmed, upper-cased (`x` check characters, USCC letters). */
export function normaliseForLookup(value: string): string {
  return value.trim().toUpperCase();
}

export interface PiiVault {
  /** The id of the current key, written into every new ciphertext. */
  readonly keyId: string;
  encrypt(plaintext: string, purpose: PiiPurpose): string;
  decrypt(ciphertext: string, purpose: PiiPurpose): string;
  /** The key id a ciphertext was written with. */
  keyIdOf(ciphertext: string): string;
  /** True when the ciphertext was not written with the current key. */
  isStale(ciphertext: string): boolean;
  /** The same plaintext under the current key (a no-op string for current ciphertexts). */
  reencrypt(ciphertext: string, purpose: PiiPurpose): string;
  /** Keyed hash (HMAC-SHA-256, `idx` key) of the normalised value under the current key. */
  lookupHash(value: string): Buffer;
  /** Keyed hashes under the current key and, during a rotation, the previous one. */
  lookupHashes(value: string): Buffer[];
  /** Keyed digest of arbitrary text (request fingerprints that contain personal data), current key. */
  digest(text: string): Buffer;
  /** True when `digest` equals the keyed digest of `text` under the current or previous key. */
  digestMatches(text: string, digest: Buffer): boolean;
}

/** Builds the vault from the 32-byte `PII_KEY` and, during a rotation, `PII_KEY_PREVIOUS`. */
export function createPiiVault(key: Buffer, previous: Buffer | null = null): PiiVault {
  const current = derive(key);
  const keys = new Map<string, DerivedKey>([[current.id, current]]);
  const old = previous ? derive(previous) : null;
  if (old && old.id !== current.id) keys.set(old.id, old);
  const hmac = (k: DerivedKey, text: string) => createHmac('sha256', k.idx).update(text, 'utf8').digest();

  const parse = (ciphertext: string) => {
    const parts = ciphertext.split('.');
    if (parts.length !== 4 || parts[0] !== FORMAT) throw new PiiDecryptError('not a PII ciphertext');
    return { keyId: parts[1]!, iv: Buffer.from(parts[2]!, 'base64url'), body: Buffer.from(parts[3]!, 'base64url') };
  };

  const vault: PiiVault = {
    keyId: current.id,

    encrypt(plaintext, purpose) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current.enc, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(`${FORMAT}|${current.id}|${purpose}`));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${FORMAT}.${current.id}.${iv.toString('base64url')}.${body.toString('base64url')}`;
    },

    decrypt(ciphertext, purpose) {
      const { keyId, iv, body } = parse(ciphertext);
      const k = keys.get(keyId);
      if (!k) throw new PiiDecryptError(`no key with id ${keyId} (is PII_KEY_PREVIOUS missing?)`);
      if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new PiiDecryptError('truncated PII ciphertext');
      const decipher = createDecipheriv('aes-256-gcm', k.enc, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(`${FORMAT}|${keyId}|${purpose}`));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new PiiDecryptError('PII ciphertext failed authentication');
      }
    },

    keyIdOf: (ciphertext) => parse(ciphertext).keyId,
    isStale: (ciphertext) => parse(ciphertext).keyId !== current.id,

    reencrypt(ciphertext, purpose) {
      return vault.isStale(ciphertext) ? vault.encrypt(vault.decrypt(ciphertext, purpose), purpose) : ciphertext;
    },

    lookupHash: (value) => hmac(current, normaliseForLookup(value)),
    lookupHashes: (value) => [...keys.values()].map((k) => hmac(k, normaliseForLookup(value))),
    digest: (text) => hmac(current, `digest|${text}`),
    digestMatches: (text, digest) => [...keys.values()].some((k) => {
      const candidate = hmac(k, `digest|${text}`);
      return candidate.length === digest.length && timingSafeEqual(candidate, digest);
    }),
  };
  return vault;
}

// ---------------------------------------------------------------------------------------------
// Masks for responses (DESIGN 6): `1101**********123X`, `张*` / `张*三`, `138****0000`.
// They work on code points, so a CJK or supplementary-plane character is one character.

function chars(text: string): string[] {
  return Array.from(text);
}

/** ID numbers and credit codes: the first 4 and last 4 characters kept (`1101**********123X`). */
export function maskIdNumber(value: string): string {
  const c = chars(value);
  if (c.length <= 8) return '*'.repeat(Math.max(0, c.length - 2)) + c.slice(-2).join('');
  return c.slice(0, 4).join('') + '*'.repeat(c.length - 8) + c.slice(-4).join('');
}

/** Names: the first character kept, and the last when there are three or more (`张*`, `张*三`, `欧**明`). */
export function maskName(value: string): string {
  const c = chars(value.trim());
  if (c.length === 0) return '';
  if (c.length === 1) return '*';
  if (c.length === 2) return `${c[0]}*`;
  return c[0] + '*'.repeat(c.length - 2) + c[c.length - 1];
}

/** Phone numbers: the first 3 and last 4 digits kept (`138****0000`). */
export function maskPhone(value: string): string {
  const c = chars(value);
  if (c.length < 8) return '*'.repeat(Math.max(0, c.length - 2)) + c.slice(-2).join('');
  return c.slice(0, 3).join('') + '*'.repeat(c.length - 7) + c.slice(-4).join('');
}
