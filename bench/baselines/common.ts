import http from 'node:http';
import pg from 'pg';
import { INCIDENT_COLUMNS } from '../../src/features/incidents/incidents.queries.js';
import type { Queryable } from '../../src/platform/db/database.js';

/**
 * What every bare baseline shares with the app: the same pool size and connection settings
 * (src/platform/db/postgres.ts), the same keep-alive timeout (src/main.ts), the same columns.
 * Each baseline is started by bench/run.ts with PORT, DATABASE_URL and DATABASE_POOL_MAX.
 */

/** The app's list columns (imported, so a column added to incidents is read here too). */
export const LIST_SQL = `SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 25`;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: string | null | undefined): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

export function createPool(applicationName: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: requiredEnv('DATABASE_URL'),
    max: Number(requiredEnv('DATABASE_POOL_MAX')),
    connectionTimeoutMillis: 2000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 5000,
    idle_in_transaction_session_timeout: 10_000,
    application_name: applicationName,
  });
  pool.on('error', () => {
    // An idle client that lost its connection is replaced on the next checkout.
  });
  return pool;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 100_000) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, path: string, query: URLSearchParams) => Promise<void>;

/**
 * Serves `handler` on 127.0.0.1:PORT with GET /health, exits on SIGTERM, and exits by itself
 * when the harness that started it is gone (so a killed harness leaves no server behind).
 */
export function serve(name: string, pool: pg.Pool, handler: Handler): void {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    if (path === '/health') {
      pool.query('SELECT 1').then(
        () => {
          sendJson(res, 200, { status: 'ok' });
        },
        () => {
          sendJson(res, 503, { status: 'unavailable' });
        },
      );
      return;
    }
    handler(req, res, path, query).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : 'error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  const port = Number(requiredEnv('PORT'));
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`${name} listening on 127.0.0.1:${port}\n`);
  });

  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    void pool.end().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  stopWithHarness(stop);
}

/** Runs `stop` on SIGTERM/SIGINT and when the harness that started this process is gone. */
export function stopWithHarness(stop: () => void): void {
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 1000).unref();
}

/**
 * The app's statement-issuing functions take a transaction (`Queryable`); a baseline that runs one
 * of them autocommit on the pool, as the owner, passes this. Nothing runs after a commit here.
 */
export function autocommit(pool: pg.Pool): Queryable {
  return {
    query: async (sql, params) => {
      const r = await pool.query(sql, params as unknown[] | undefined);
      return { rows: r.rows as never[], rowCount: r.rowCount ?? 0 };
    },
    exec: async (sql: string) => {
      await pool.query(sql);
    },
    afterCommit: (fn: () => void) => {
      fn();
    },
    local: (slot) => slot.create(),
  };
}
