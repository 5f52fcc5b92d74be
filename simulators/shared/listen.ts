import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens (port 0 = a free one, loopback by default) and resolves with the server's base URL. */
export async function listen(server: Server, options: { host?: string | undefined; port?: number | undefined }): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}
