import { Duplex, Transform, type TransformCallback } from 'node:stream';
import type { Socket } from 'node:net';

/**
 * Refuses an MQTT packet whose Remaining Length exceeds `maxRemainingLength`, as soon as its fixed header
 * arrives, so an oversized publish (DESIGN 3.0: 262,144-byte payloads) is never buffered whole.
 * mqtt-packet (inside aedes) has no such limit. The data itself passes through untouched.
 */
export class FrameGuard extends Transform {
  private headerBytes = 0; // bytes of the current fixed header seen (type byte + length bytes)
  private length = 0;
  private multiplier = 1;
  private skip = 0; // body bytes of the current packet still to pass

  constructor(private readonly maxRemainingLength: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, chunk.length - offset);
        this.skip -= take;
        offset += take;
        continue;
      }
      const byte = chunk[offset++]!;
      if (this.headerBytes === 0) {
        this.headerBytes = 1;
        continue;
      }
      // Remaining Length: variable byte integer, at most 4 bytes [MQTT-2.2.3]
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.headerBytes++;
      if (this.length > this.maxRemainingLength) {
        callback(new PacketTooLargeError(this.length, this.maxRemainingLength));
        return;
      }
      if ((byte & 0x80) === 0) {
        this.skip = this.length;
        this.headerBytes = 0;
        this.length = 0;
        this.multiplier = 1;
      } else if (this.headerBytes > 4) {
        callback(new Error('malformed remaining length'));
        return;
      }
    }
    callback(null, chunk);
  }
}

export class PacketTooLargeError extends Error {
  constructor(length: number, max: number) {
    super(`packet of ${length} bytes exceeds the ${max}-byte limit`);
    this.name = 'PacketTooLargeError';
  }
}

/** The socket, with its inbound bytes passed through a FrameGuard; destroying either side closes both. */
export function guardedConnection(socket: Socket, maxRemainingLength: number): Duplex {
  const guard = new FrameGuard(maxRemainingLength);
  socket.pipe(guard);
  const duplex = Duplex.from({ readable: guard, writable: socket });
  guard.on('error', (error) => {
    socket.destroy();
    duplex.destroy(error);
  });
  socket.on('error', (error) => duplex.destroy(error));
  socket.on('close', () => duplex.destroy());
  return duplex;
}
