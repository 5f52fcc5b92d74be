import net from 'node:net';
import { Aedes } from 'aedes';

/**
 * The broker alone, for the raw limit beside the end-to-end figure: an aedes instance with the embedded
 * broker's concurrency and in-memory persistence, no authentication, no ingest, in its own process.
 */
const aedes = await Aedes.createBroker({ concurrency: 1000 });
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  aedes.handle(socket);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as net.AddressInfo).port;
process.send?.({ ready: true, port });
process.on('disconnect', () => {
  server.close();
  aedes.close(() => process.exit(0));
});
