/** The ack messages of DESIGN 3.2, built in one place. */
export interface AckRejection {
  index: number;
  seq: number | null;
  code: string;
  message: string;
  retryable: boolean;
}

export type Ack =
  | { v: 1; batch: number; serverTime: string; accepted: number; duplicates: number; rejected: AckRejection[] }
  | { v: 1; batch?: number; payloadSha256: string; serverTime: string; error: { code: string; message: string; retryable: boolean } };

export function usageAck(batch: number, serverTime: string, outcome: { accepted: number; duplicates: number; rejected: AckRejection[] }): Ack {
  return { v: 1, batch, serverTime, accepted: outcome.accepted, duplicates: outcome.duplicates, rejected: outcome.rejected };
}

/** A whole-message rejection: `batch` only when it was readable. */
export function messageErrorAck(
  failure: { code: string; message: string; retryable: boolean; batch: number | null; payloadSha256: string },
  serverTime: string,
): Ack {
  return {
    v: 1,
    ...(failure.batch !== null ? { batch: failure.batch } : {}),
    payloadSha256: failure.payloadSha256,
    serverTime,
    error: { code: failure.code, message: failure.message, retryable: failure.retryable },
  };
}
