import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** A port nothing listens on now, on loopback. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface PgliteServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * PostgreSQL's wire protocol on a loopback port, served by `pglite-server` (PGlite with pgvector)
 * in a child process: the node-postgres path over a real socket, with no PostgreSQL installed.
 */
export async function startPgliteServer(): Promise<PgliteServer> {
  const port = await freePort();
  // the package's `pglite-server` bin, run with this Node
  const bin = path.join(path.dirname(require.resolve('@electric-sql/pglite-socket')), 'scripts', 'server.js');
  const child: ChildProcess = spawn(process.execPath, [bin, '--db=memory://', `--port=${port}`, '--extensions=@electric-sql/pglite-pgvector:vector', '--max-connections=8'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += String(d);
      if (/listening/i.test(output)) resolve();
    });
    child.stderr!.on('data', (d: Buffer) => (output += String(d)));
    child.once('exit', (code) => reject(new Error(`pglite-server exited with ${code}: ${output}`)));
  });
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
