import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from './database.js';

/** The project's `migrations/` folder, found from this file whether it runs from `src/` or `dist/src/`. */
function findMigrationsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'migrations');
    if (existsSync(path.join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('migrations folder not found');
    dir = parent;
  }
}

export const MIGRATIONS_DIR = findMigrationsDir();

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

function label(m: { version: number; name: string }): string {
  return `${String(m.version).padStart(4, '0')}_${m.name}`;
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const out: MigrationFile[] = [];
  for (const file of files) {
    const m = FILE_RE.exec(file);
    if (!m?.[1] || !m[2]) throw new MigrationError(`migration file name must be NNNN_name.sql: ${file}`);
    const sql = await readFile(path.join(dir, file), 'utf8');
    out.push({ version: Number(m[1]), name: m[2], sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  out.forEach((mig, i) => {
    if (i > 0 && out[i - 1]?.version === mig.version) throw new MigrationError(`duplicate migration version ${mig.version}`);
  });
  return out;
}

/** SQLSTATE undefined_table: `schema_migrations` does not exist yet (a database never migrated). */
const UNDEFINED_TABLE = '42P01';

/**
 * The migrations among `files` that the database has not applied (labels, in order): all of them
 * on a database never migrated. Read-only; `/health` uses it so that a deploy whose migrations
 * have not run reports itself unready instead of answering every request with a 500.
 */
export async function pendingMigrations(db: Database, files: readonly MigrationFile[]): Promise<string[]> {
  let applied: Set<number>;
  try {
    applied = await db.withSystemTx(async (tx) => {
      const { rows } = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
      return new Set(rows.map((r) => r.version));
    });
  } catch (err) {
    if ((err as { code?: unknown }).code !== UNDEFINED_TABLE) throw err;
    applied = new Set();
  }
  return files.filter((f) => !applied.has(f.version)).map(label);
}

/**
 * Applies pending migrations in order, in one transaction under a transaction-scoped advisory
 * lock, so two deploys migrating at once serialise and the second finds nothing to do. An applied
 * migration whose file has changed is refused: migrations are forward-only.
 */
export async function migrate(db: Database, dir: string = MIGRATIONS_DIR): Promise<{ applied: string[] }> {
  const files = await readMigrations(dir);
  return db.withSystemTx(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(7320194857)`);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
    );
    const applied = new Map(rows.map((r) => [r.version, r]));
    for (const row of rows) {
      const file = files.find((f) => f.version === row.version);
      if (!file) throw new MigrationError(`applied migration ${label(row)} is missing from ${dir}`);
      if (file.checksum !== row.checksum) {
        throw new MigrationError(`applied migration ${label(row)}.sql has been edited (checksum mismatch)`);
      }
    }
    const done: string[] = [];
    for (const file of files) {
      if (applied.has(file.version)) continue;
      await tx.exec(file.sql);
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        file.version,
        file.name,
        file.checksum,
      ]);
      done.push(label(file));
    }
    return { applied: done };
  });
}
