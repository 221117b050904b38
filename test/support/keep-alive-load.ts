// Clients as services call a model: each one a keep-alive connection (node:http's Agent, as most Node
// services use) sending POSTs back to back, counting the outcome of every request. For shutdown tests: a
// client stops when a new connection is refused (the server stopped listening: nothing was sent).
import { Agent, request } from 'node:http';

export interface LoadOutcome {
  /** Answers by HTTP status. */
  statuses: Record<number, number>;
  /** Requests sent (in whole or in part) that got no answer: reset, hang-up. */
  cut: number;
  /** Connections refused: the request never left the client. */
  refused: number;
  /**
   * Clients whose last answer lacked `Connection: close`: left to find their connection gone rather than
   * told by an answer to go elsewhere.
   */
  notToldToClose: number;
  /** The first few errors of cut requests, to say how they were cut. */
  cutErrors: string[];
}

interface Answer {
  status: number;
  connection: string | undefined;
}

function post(url: string, body: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts `clients` keep-alive clients POSTing `body` to `url` until refused or stopped. */
export function keepAliveLoad(url: string, body: string, clients: number) {
  const outcome: LoadOutcome = { statuses: {}, cut: 0, refused: 0, notToldToClose: 0, cutErrors: [] };
  let stopped = false;
  const agents: Agent[] = [];
  const client = async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    let toldToClose = false;
    while (!stopped) {
      try {
        const answer = await post(url, body, agent);
        outcome.statuses[answer.status] = (outcome.statuses[answer.status] ?? 0) + 1;
        toldToClose = answer.connection === 'close';
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ECONNREFUSED') {
          outcome.refused++;
          if (!toldToClose) outcome.notToldToClose++;
          return;
        }
        toldToClose = false;
        outcome.cut++;
        if (outcome.cutErrors.length < 5) outcome.cutErrors.push(`${code ?? ''} ${(error as Error).message}`);
      }
    }
  };
  const running = Promise.all(Array.from({ length: clients }, client));
  return {
    answered: () => Object.values(outcome.statuses).reduce((a, b) => a + b, 0),
    /** Resolves when every client has been refused (or stop() was called). */
    finished: running.then(() => outcome),
    stop() {
      stopped = true;
      for (const agent of agents) agent.destroy();
    },
  };
}
