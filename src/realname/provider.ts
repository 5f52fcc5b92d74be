import { z } from 'zod';
import { providerErrorCode, readProviderJson } from '../shared/provider-answer.js';

/**
 * The real-name verification provider (DESIGN 6): checks that a name and a resident ID number belong to
 * the person in front of the camera (a liveness token from the provider's SDK), or that an enterprise
 * name matches its unified social credit code and its agent is who they claim. One small interface; the
 * HTTP client below speaks the protocol of `simulators/realname` (and of a real provider behind an
 * adapter with the same shape).
 *
 * Every call carries an idempotency key: a retry after a timeout gets the first answer, never a second
 * verification. Errors never carry request bodies (they hold personal data).
 */

export interface IndividualVerification {
  requestId: string;
  name: string;
  idNumber: string;
  livenessToken: string;
}

export interface EnterpriseVerification {
  requestId: string;
  name: string;
  uscc: string;
  agent: { name: string; idNumber: string };
}

export type VerificationOutcome = { verified: true; reference: string } | { verified: false; reference: string | null; reason: string };

export interface RealNameProvider {
  verifyIndividual(input: IndividualVerification): Promise<VerificationOutcome>;
  verifyEnterprise(input: EnterpriseVerification): Promise<VerificationOutcome>;
}

/** `timeout`: no answer in time (the provider may still have decided); `unavailable`: refused or down; `protocol`: an answer we cannot use. */
export type ProviderFailure = 'timeout' | 'unavailable' | 'protocol';

export class RealNameProviderError extends Error {
  constructor(
    readonly failure: ProviderFailure,
    message: string,
  ) {
    super(message);
    this.name = 'RealNameProviderError';
  }
}

const AnswerSchema = z.object({
  verificationId: z.string().regex(/^[\x21-\x7e]{1,200}$/, 'printable ASCII'),
  result: z.enum(['pass', 'fail']),
  reason: z.string().max(500).optional(),
});

export interface HttpProviderOptions {
  baseUrl: string;
  /** Our credential at the provider (REALNAME_TOKEN), sent as `Authorization: Bearer`; required outside dev mode. */
  token?: string | undefined;
  /** per call; a slower answer is a timeout (the call is safe to retry with the same request id) */
  timeoutMs?: number;
}

/** The HTTP client: `POST {baseUrl}/v1/verifications/{individual|enterprise}` with `Idempotency-Key`. */
export function createHttpRealNameProvider(options: HttpProviderOptions): RealNameProvider {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const base = options.baseUrl.replace(/\/+$/, '');

  async function call(path: string, requestId: string, body: unknown): Promise<VerificationOutcome> {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': requestId, ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const name = error instanceof Error ? error.name : '';
      if (name === 'TimeoutError' || name === 'AbortError') throw new RealNameProviderError('timeout', `the real-name provider did not answer within ${timeoutMs} ms`);
      throw new RealNameProviderError('unavailable', 'the real-name provider could not be reached');
    }
    const payload = await readProviderJson(response);
    if (response.status >= 500 || response.status === 429) {
      throw new RealNameProviderError('unavailable', `the real-name provider answered ${response.status}`);
    }
    // Our credential, not the submission, was refused: retryable once the operator fixes REALNAME_TOKEN.
    if (response.status === 401 || response.status === 403) {
      throw new RealNameProviderError('unavailable', `the real-name provider refused our credentials (${response.status}); check REALNAME_TOKEN`);
    }
    if (!response.ok) {
      const code = providerErrorCode(payload);
      throw new RealNameProviderError('protocol', `the real-name provider refused the request (${response.status}${code !== null ? ` ${code}` : ''})`);
    }
    const answer = AnswerSchema.safeParse(payload);
    if (!answer.success) throw new RealNameProviderError('protocol', 'the real-name provider sent an answer of an unknown shape');
    return answer.data.result === 'pass'
      ? { verified: true, reference: answer.data.verificationId }
      : { verified: false, reference: answer.data.verificationId, reason: answer.data.reason ?? 'verification failed' };
  }

  return {
    verifyIndividual: (input) => call('/v1/verifications/individual', input.requestId, { name: input.name, idNumber: input.idNumber, livenessToken: input.livenessToken }),
    verifyEnterprise: (input) => call('/v1/verifications/enterprise', input.requestId, { name: input.name, uscc: input.uscc, agent: input.agent }),
  };
}

/** Outside dev mode without REALNAME_URL: every verification is refused as unavailable (and says why). */
export function unconfiguredRealNameProvider(): RealNameProvider {
  const fail = async (): Promise<never> => {
    throw new RealNameProviderError('unavailable', 'no real-name provider is configured (set REALNAME_URL)');
  };
  return { verifyIndividual: fail, verifyEnterprise: fail };
}
