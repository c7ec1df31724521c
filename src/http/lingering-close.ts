import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** How long and how much a refused request's connection is read and discarded after its answer. */
export interface LingerLimits {
  /** Bytes read (and dropped) after the answer before the connection is destroyed. */
  maxBytes: number;
  /** Milliseconds after the answer before the connection is destroyed. */
  maxMs: number;
}

export const DEFAULT_LINGER: LingerLimits = { maxBytes: 4 * 1024 * 1024, maxMs: 2000 };

/**
 * Makes the connection of `req`, refused before its body was read to the end and answered
 * with `Connection: close`, close "lingering" (RFC 9112 §9.6) instead of being destroyed as
 * soon as the answer is written: a destroyed socket that still receives the client's body
 * answers with a reset, and the client's write fails (EPIPE/ECONNRESET) before it has read
 * the answer. Once the answer is written:
 * - the HTTP parser gets no further byte from this connection (nothing that arrives after the
 *   answer is parsed or served). A request pipelined behind the refused one in bytes Node's
 *   parser already read (the same packet) was parsed and dispatched by Node before the answer
 *   was written: its handler runs, its answer is never sent (Node dispatches pipelined requests
 *   eagerly; not stopped here);
 * - the connection is half-closed (FIN after the answer);
 * - what the client still sends is read and dropped (nothing is buffered) until it closes its
 *   side, or `limits.maxBytes` were read, or `limits.maxMs` passed: then it is destroyed.
 * Must be called before the answer is ended.
 */
export function closeLingering(req: IncomingMessage, limits: LingerLimits = DEFAULT_LINGER): void {
  const socket = req.socket as Socket & { destroySoon?: () => void };
  // Node's server ends a `Connection: close` answer's connection through destroySoon()
  // (end, then destroy once the FIN is written): this connection lingers instead.
  socket.destroySoon = () => linger(socket, limits);
}

function linger(socket: Socket, limits: LingerLimits): void {
  if (socket.destroyed) return;
  let read = 0;
  const done = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(done, limits.maxMs);
  const discard = (chunk: Buffer): void => {
    read += chunk.length;
    if (read > limits.maxBytes) done();
  };
  // Adding a 'data' listener makes Node's server stop feeding the socket's bytes to its
  // parser directly ("unconsume"); removing the server's own 'data' listener then leaves the
  // parser without input. Only `discard` reads what follows.
  socket.on('data', discard);
  for (const listener of socket.listeners('data')) if (listener !== discard) socket.off('data', listener as (chunk: Buffer) => void);
  socket.prependOnceListener('end', done);
  socket.once('close', () => clearTimeout(timer));
  socket.end();
  socket.resume();
}
