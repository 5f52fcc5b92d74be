import { z } from 'zod';

/**
 * Reads a third-party HTTP answer as JSON, at most `maxBytes` of it: a provider's answer is data to check,
 * never trusted for its size either. Anything unreadable (too large, not JSON, a broken stream) is null,
 * which the caller's schema then refuses.
 */
export async function readProviderJson(response: Response, maxBytes = 64 * 1024): Promise<unknown> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    return null;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > maxBytes) {
        await response.body.cancel().catch(() => undefined);
        return null;
      }
      chunks.push(chunk);
    }
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return parsed;
  } catch {
    return null;
  }
}

const ProviderErrorSchema = z.object({ error: z.object({ code: z.string() }) });

/**
 * The `error.code` of a provider's refusal, at most 64 characters, or null when the answer has none. Only
 * the code is ever repeated in our messages: a provider's own message may quote personal data.
 */
export function providerErrorCode(payload: unknown): string | null {
  const answer = ProviderErrorSchema.safeParse(payload);
  return answer.success ? answer.data.error.code.slice(0, 64) : null;
}
