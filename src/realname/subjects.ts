import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { reencryptColumn } from '../shared/db/reencrypt.js';
import { maskIdNumber, maskName, type PiiVault } from '../shared/pii.js';
import type { MaskedSubject, UnmaskedSubject } from './schemas.js';
import type { RealNameSubmission } from './validate.js';

/**
 * Real-name subjects at rest (DESIGN 6): every submission is a row with its personal data encrypted
 * (name, ID number or credit code, the agent's name and ID number) and the ID number's keyed hash for the
 * per-ID limit. Only this file turns rows into plaintext or masks.
 */

export type SubjectRole = 'holder' | 'owner';
export type SubjectType = 'individual' | 'enterprise';
export type SubjectStatus = 'pending' | 'verified' | 'rejected' | 'superseded';

export interface SubjectRow {
  id: string;
  iccid: string;
  role: SubjectRole;
  type: SubjectType;
  status: SubjectStatus;
  name_enc: string;
  id_number_enc: string;
  agent_name_enc: string | null;
  agent_id_number_enc: string | null;
  request_digest: Buffer;
  provider_request_id: string;
  provider_reference: string | null;
  outcome_reason: string | null;
  attempts: number;
  last_error: string | null;
  submitted_by: string;
  submitted_at: Date;
  decided_at: Date | null;
}

type Db = Pool | PoolClient;

/** The submission's fingerprint without its plaintext: a keyed digest (equal bodies → a retry). */
function fingerprint(submission: RealNameSubmission): string {
  return JSON.stringify(
    submission.type === 'individual'
      ? [submission.role, 'individual', submission.name, submission.idNumber, submission.livenessToken]
      : [submission.role, 'enterprise', submission.name, submission.uscc, submission.agent.name, submission.agent.idNumber],
  );
}

export function createSubjectStore(vault: PiiVault) {
  return {
    sameSubmission(row: SubjectRow, submission: RealNameSubmission): boolean {
      return vault.digestMatches(fingerprint(submission), row.request_digest);
    },

    async insertPending(client: PoolClient, input: { iccid: string; submission: RealNameSubmission; actor: string; at: Date }): Promise<SubjectRow> {
      const s = input.submission;
      const idNumber = s.type === 'individual' ? s.idNumber : s.uscc;
      const { rows } = await client.query<SubjectRow>(
        `INSERT INTO realname_subjects (iccid, role, type, status, name_enc, id_number_enc, id_number_hash, agent_name_enc, agent_id_number_enc,
            agent_id_number_hash, request_digest, provider_request_id, submitted_by, submitted_at)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
        [
          input.iccid,
          s.role,
          s.type,
          vault.encrypt(s.name, 'name'),
          vault.encrypt(idNumber, 'idNumber'),
          vault.lookupHash(idNumber),
          s.type === 'enterprise' ? vault.encrypt(s.agent.name, 'agentName') : null,
          s.type === 'enterprise' ? vault.encrypt(s.agent.idNumber, 'agentIdNumber') : null,
          s.type === 'enterprise' ? vault.lookupHash(s.agent.idNumber) : null,
          vault.digest(fingerprint(s)),
          `rn-${randomUUID()}`,
          input.actor,
          input.at,
        ],
      );
      return rows[0]!;
    },

    /** The newest submission for (card, role) that still matters: pending, verified or rejected. */
    async latest(db: Db, iccid: string, role: SubjectRole, lock = false): Promise<SubjectRow | null> {
      const { rows } = await db.query<SubjectRow>(
        `SELECT * FROM realname_subjects WHERE iccid = $1 AND role = $2 AND status <> 'superseded' ORDER BY id DESC LIMIT 1${lock ? ' FOR UPDATE' : ''}`,
        [iccid, role],
      );
      return rows[0] ?? null;
    },

    async find(db: Db, id: string, lock = false): Promise<SubjectRow | null> {
      const { rows } = await db.query<SubjectRow>(`SELECT * FROM realname_subjects WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
      return rows[0] ?? null;
    },

    async supersede(client: PoolClient, iccid: string, role: SubjectRole): Promise<void> {
      await client.query(`UPDATE realname_subjects SET status = 'superseded' WHERE iccid = $1 AND role = $2 AND status <> 'superseded'`, [iccid, role]);
    },

    /** One subject, wherever it was registered (a vehicle user registered through the vehicle's earlier card). */
    async supersedeOne(client: PoolClient, id: string): Promise<void> {
      await client.query(`UPDATE realname_subjects SET status = 'superseded' WHERE id = $1 AND status <> 'superseded'`, [id]);
    },

    async decide(client: PoolClient, id: string, outcome: { verified: boolean; reference: string | null; reason: string | null }, at: Date): Promise<void> {
      await client.query(
        `UPDATE realname_subjects SET status = $2, provider_reference = $3, outcome_reason = $4, decided_at = $5, attempts = attempts + 1, last_error = NULL WHERE id = $1`,
        [id, outcome.verified ? 'verified' : 'rejected', outcome.reference, outcome.reason?.slice(0, 300) ?? null, at],
      );
    },

    async noteFailure(db: Db, id: string, message: string): Promise<void> {
      await db.query('UPDATE realname_subjects SET attempts = attempts + 1, last_error = $2 WHERE id = $1', [id, message.slice(0, 300)]);
    },

    masked(row: SubjectRow | null): MaskedSubject {
      if (!row || row.status === 'superseded') return { status: 'none', type: null, name: null, idNumber: null };
      return {
        status: row.status,
        type: row.type,
        name: maskName(vault.decrypt(row.name_enc, 'name')),
        idNumber: maskIdNumber(vault.decrypt(row.id_number_enc, 'idNumber')),
        ...(row.agent_name_enc && row.agent_id_number_enc
          ? { agent: { name: maskName(vault.decrypt(row.agent_name_enc, 'agentName')), idNumber: maskIdNumber(vault.decrypt(row.agent_id_number_enc, 'agentIdNumber')) } }
          : {}),
        ...(row.status === 'rejected' && row.outcome_reason ? { reason: row.outcome_reason } : {}),
        submittedAt: row.submitted_at.toISOString(),
        verifiedAt: row.status === 'verified' ? (row.decided_at?.toISOString() ?? null) : null,
      };
    },

    /** Plaintext: only for the audited reveal endpoint and for the provider call. */
    unmasked(row: SubjectRow): UnmaskedSubject {
      return {
        id: row.id,
        role: row.role,
        type: row.type,
        status: row.status,
        name: vault.decrypt(row.name_enc, 'name'),
        idNumber: vault.decrypt(row.id_number_enc, 'idNumber'),
        ...(row.agent_name_enc && row.agent_id_number_enc
          ? { agent: { name: vault.decrypt(row.agent_name_enc, 'agentName'), idNumber: vault.decrypt(row.agent_id_number_enc, 'agentIdNumber') } }
          : {}),
      };
    },

    /** Key rotation: every encrypted column of `realname_subjects` moved to the current key (hashes re-keyed); how many values moved. */
    async reencrypt(pool: Pool): Promise<number> {
      let moved = 0;
      moved += await reencryptColumn(pool, vault, { table: 'realname_subjects', key: 'id', column: 'name_enc', purpose: 'name' });
      moved += await reencryptColumn(pool, vault, { table: 'realname_subjects', key: 'id', column: 'id_number_enc', purpose: 'idNumber', rehash: 'id_number_hash' });
      moved += await reencryptColumn(pool, vault, { table: 'realname_subjects', key: 'id', column: 'agent_name_enc', purpose: 'agentName' });
      moved += await reencryptColumn(pool, vault, { table: 'realname_subjects', key: 'id', column: 'agent_id_number_enc', purpose: 'agentIdNumber', rehash: 'agent_id_number_hash' });
      return moved;
    },

    /** Every subject registered through a card (any role and status), by id. */
    async idsOfCard(db: Db, iccid: string): Promise<string[]> {
      const { rows } = await db.query<{ id: string }>('SELECT id FROM realname_subjects WHERE iccid = $1 ORDER BY id', [iccid]);
      return rows.map((r) => r.id);
    },

    /**
     * DESIGN 6: at most 10 cards in `active` or `suspended` per individual ID number, platform-wide. Takes a
     * transaction-scoped advisory lock on the ID's keyed hash (current key) first, so two activations for
     * one person serialise and the second counts the first; returns the verified individual subjects of that
     * ID number (under the current or the previous key), whose cards in service the caller counts (src/sims).
     */
    async lockIdNumber(client: PoolClient, idNumber: string): Promise<string[]> {
      const lockKey = vault.lookupHash(idNumber).readBigInt64BE(0);
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey.toString()]);
      const { rows } = await client.query<{ id: string }>(
        `SELECT id FROM realname_subjects WHERE type = 'individual' AND status = 'verified' AND id_number_hash = ANY($1::bytea[]) ORDER BY id`,
        [vault.lookupHashes(idNumber)],
      );
      return rows.map((r) => r.id);
    },
  };
}

export type SubjectStore = ReturnType<typeof createSubjectStore>;
