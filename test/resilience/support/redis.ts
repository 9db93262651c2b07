import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Child, freePort, type Cleanup } from './processes.js';
import { GiveUp, HOST, waitFor } from './env.js';

/**
 * Sends one RESP command on a fresh connection and resolves with the first reply line, or
 * rejects after `timeoutMs` (a hung server).
 */
export function redisCommand(port: number, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: HOST, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${args[0] ?? ''} timed out`));
    }, timeoutMs);
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    socket.on('data', (chunk: string) => {
      reply += chunk;
      const end = reply.indexOf('\r\n');
      if (end !== -1) {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply.slice(0, end));
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * A Redis server of the scenario's own, on its own port, never the shared one. It keeps its
 * data in an append-only file synced on every write, so a SIGKILL and a restart on the same
 * port bring back the sessions it held (a Redis that returns, not an empty one).
 */
export class ThrowawayRedis {
  private child: Child | null = null;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(cleanup: Cleanup): Promise<ThrowawayRedis> {
    const dir = await mkdtemp(path.join(tmpdir(), 'resilience-redis-'));
    const redis = new ThrowawayRedis(await freePort(), dir);
    cleanup.add(`redis on ${redis.port}`, async () => {
      await redis.child?.kill();
      await rm(dir, { recursive: true, force: true });
    });
    await redis.spawn();
    return redis;
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  private async spawn(): Promise<void> {
    const child = new Child('redis-server', 'redis-server', [
      '--port', String(this.port),
      '--bind', HOST,
      '--dir', this.dir,
      '--save', '',
      '--appendonly', 'yes',
      '--appendfsync', 'always',
      '--enable-debug-command', 'yes',
      '--logfile', '',
    ], {});
    this.child = child;
    await waitFor(
      `redis-server on ${this.port}`,
      async () => {
        if (!child.running) throw new GiveUp(`redis-server exited:\n${child.tail()}`);
        return (await redisCommand(this.port, ['PING'], 500)) === '+PONG' ? true : undefined;
      },
      10_000,
    );
  }

  /** Redis dies without warning (SIGKILL). */
  async kill(): Promise<void> {
    await this.child?.kill();
    this.child = null;
  }

  /** Redis comes back on the same port, with the data it had synced. */
  async restart(): Promise<void> {
    if (this.child?.running) throw new Error('redis is still running');
    await this.spawn();
  }

  /**
   * Redis hangs: `DEBUG SLEEP` blocks the server for `seconds`. Resolves once the server is
   * asleep (a PING no longer answers); the returned promise resolves when it wakes.
   */
  async hang(seconds: number): Promise<{ awake: Promise<void> }> {
    const awake = redisCommand(this.port, ['DEBUG', 'SLEEP', String(seconds)], seconds * 1000 + 5000).then((reply) => {
      if (reply !== '+OK') throw new Error(`DEBUG SLEEP answered ${reply}`);
    });
    await waitFor(
      'redis to stop answering',
      async () => ((await redisCommand(this.port, ['PING'], 150).catch(() => 'no answer')) === 'no answer' ? true : undefined),
      2000,
      10,
    );
    return { awake };
  }
}
