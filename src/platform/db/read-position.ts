/**
 * Read-your-writes for replica reads (DATABASE_READ_HOSTS). A caller's position is the WAL
 * location (an LSN, `16/B374D848`) at or after the commit record of its last write: a standby
 * that has replayed up to it shows that write, so a read may go there; otherwise it goes to the
 * primary. Clients see the position as an opaque token (README "High availability").
 */

const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** An LSN as a number (64 bits: the high and low halves of `X/Y`), or null when it is not one. */
export function parseLsn(text: string): bigint | null {
  const m = LSN_RE.exec(text);
  if (!m?.[1] || !m[2]) return null;
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** The canonical text PostgreSQL prints (`pg_lsn` output): upper-case hex, no leading zeros. */
export function formatLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The later of two positions (null = none). */
export function laterLsn(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return (parseLsn(a) ?? 0n) >= (parseLsn(b) ?? 0n) ? a : b;
}

/** Where a read transaction ran, and why there. */
export type ReadRoute =
  | 'replica'
  /** No standby had replayed the position within the wait. */
  | 'primary_lagging'
  /** The standby failed (connection, recovery conflict) or the work tried to write. */
  | 'primary_fallback'
  /** Every read host is marked down after a recent failure. */
  | 'primary_no_replica';

/**
 * One request's consistency state: the position it came with (a cookie or header), advanced by
 * every write transaction that commits, and how its last read was routed.
 */
export class ReadPosition {
  private value: string | null;
  lastRead: ReadRoute | null = null;

  constructor(initial: string | null) {
    this.value = initial === null || parseLsn(initial) === null ? null : formatLsn(parseLsn(initial) ?? 0n);
  }

  /** The position (canonical LSN text), or null when the caller has none. */
  get lsn(): string | null {
    return this.value;
  }

  /** A commit position learned after COMMIT: positions only move forward. */
  advance(lsn: string): void {
    const parsed = parseLsn(lsn);
    if (parsed !== null) this.value = laterLsn(this.value, formatLsn(parsed));
  }
}
