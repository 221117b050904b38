// A small in-cluster model store for the demo on the real local cluster: serves the example ONNX models
// (baked into its image) over plain HTTP, as an object store or an artifact server would, so the example
// ModelDeployments download real models with their sha256 checked. GET and HEAD only, files of one folder.
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const dir = process.argv[2] ?? '/models';
const port = Number(process.env.PORT ?? 8080);
const files = new Set(readdirSync(dir));

/** The file a request names, or undefined when its path cannot be decoded (a client's malformed %-escape). */
function requestedName(url: string | undefined): string | undefined {
  try {
    return decodeURIComponent(new URL(url ?? '/', 'http://store').pathname.slice(1));
  } catch {
    return undefined;
  }
}

const server = createServer((req, res) => {
  const name = requestedName(req.url);
  if (name === undefined) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('the path is not a valid URL path\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (name === 'healthz') {
    res.writeHead(200).end('ok\n');
    return;
  }
  if (!files.has(name)) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no model named ${JSON.stringify(name)}\n`);
    return;
  }
  const path = join(dir, name);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(path).size });
  if (req.method === 'HEAD') res.end();
  else createReadStream(path).pipe(res);
});
server.listen(port, () => console.log(`serving ${[...files].join(', ')} from ${dir} on :${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
