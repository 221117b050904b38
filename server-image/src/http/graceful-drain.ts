// Shutting an HTTP server down without cutting a request, for the model server and the router alike.
//
// Not node:http's server.close(): since Node 19 it destroys every idle keep-alive socket at once. A client
// sending continuously has its next request on the wire a round trip after each answer, so at any instant
// many of its sockets look idle while a request is already on its way; destroying them resets requests the
// clients believe sent (and neither undici nor http.Agent retries a POST). Instead, from drain() on:
//  - the listener stops accepting (a new connection is refused: nothing was sent, safe to retry elsewhere);
//  - every response not yet begun carries `Connection: close`, and Node closes its socket once that
//    response is written: a busy client learns from its own answer to go elsewhere, with no race;
//  - a socket that has had no request and read no byte for a second (IDLE_GRACE_MS) is closed. A client
//    sending continuously never leaves its socket idle that long. One that does can still send just as we
//    close, the race every keep-alive timeout has, but its window is a round trip, not the grace;
//  - the drain is over when every connection has closed.
// Requests that arrive during the drain are the caller's to answer or refuse; Kubernetes has already begun
// moving traffic away (the preStop sleep), so the ones still coming are clients with pooled connections.
import { Server as NetServer, type Socket } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * How long a connection may sit idle during a drain before it is closed: far longer than a busy client's
 * gap between an answer and its next request (a round trip and its own work), short against the drain
 * deadline.
 */
const IDLE_GRACE_MS = 1000;

interface Connection {
  /** Requests received on it whose response has not finished (more than one only when pipelined). */
  active: number;
  idleTimer?: NodeJS.Timeout;
}

export class ConnectionDrain {
  readonly #server: Server;
  readonly #connections = new Map<Socket, Connection>();
  readonly #responses = new Set<ServerResponse>();
  #closed: Promise<void> | undefined;

  /** Tracks the server's connections and responses from now on: construct it before the server listens. */
  constructor(server: Server) {
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      const connection: Connection = { active: 0 };
      this.#connections.set(socket, connection);
      socket.once('close', () => {
        clearTimeout(connection.idleTimer);
        this.#connections.delete(socket);
      });
      if (this.draining) this.#closeWhenIdle(socket, connection);
    });
    // Before the server's own handler, which may answer synchronously: the header must be set first.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket;
      const connection = this.#connections.get(socket);
      this.#responses.add(res);
      if (connection) {
        connection.active++;
        clearTimeout(connection.idleTimer);
      }
      if (this.draining) res.setHeader('connection', 'close');
      res.once('close', () => {
        this.#responses.delete(res);
        if (!connection) return;
        connection.active--;
        if (this.draining) this.#closeWhenIdle(socket, connection);
      });
    });
  }

  get draining(): boolean {
    return this.#closed !== undefined;
  }

  /** Requests received whose response has not finished. */
  get activeRequests(): number {
    return this.#responses.size;
  }

  /** Starts the drain (once); resolves when every connection has closed. */
  drain(): Promise<void> {
    if (this.#closed) return this.#closed;
    // net.Server's close: stop accepting and report when the last connection ends, without the http
    // layer's immediate destruction of idle sockets.
    this.#closed = new Promise((resolve) => NetServer.prototype.close.call(this.#server, () => resolve()));
    for (const res of this.#responses) if (!res.headersSent) res.setHeader('connection', 'close');
    for (const [socket, connection] of this.#connections) this.#closeWhenIdle(socket, connection);
    return this.#closed;
  }

  /** Past the deadline: destroys every connection left, busy or not. */
  cut(): void {
    for (const socket of this.#connections.keys()) socket.destroy();
  }

  /** Closes the connection once it has had no request and read no byte for the grace (the start of a request's head counts). */
  #closeWhenIdle(socket: Socket, connection: Connection): void {
    if (connection.active > 0) return;
    clearTimeout(connection.idleTimer);
    const bytesRead = socket.bytesRead;
    connection.idleTimer = setTimeout(() => {
      if (connection.active > 0) return;
      if (socket.bytesRead === bytesRead) socket.destroy();
      else this.#closeWhenIdle(socket, connection);
    }, IDLE_GRACE_MS);
  }
}
