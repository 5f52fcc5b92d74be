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
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return null;
  }
}
