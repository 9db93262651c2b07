import { createServer, type Server, type Socket } from 'node:net';

/**
 * How a fake PostgreSQL host behaves:
 * - `standby`: reports `in_hot_standby = on` at connect, as PostgreSQL 14+ standbys do;
 * - `old-standby`: reports neither parameter (PostgreSQL 13 or older, or a pooler that does not
 *   pass them on) and answers `SHOW transaction_read_only` with `on`;
 * - `demoting`: reports itself writable, answers every statement with 25006 (read-only), and
 *   from then on reports `in_hot_standby = on`, like a primary demoted under its clients.
 */
export type FakeRole = 'standby' | 'old-standby' | 'demoting';

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');
const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const int16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const ready = (): Buffer => message('Z', Buffer.from('I'));
const parameter = (name: string, value: string): Buffer => message('S', Buffer.concat([cstr(name), cstr(value)]));

function errorResponse(code: string, text: string): Buffer {
  return message('E', Buffer.concat([Buffer.from('S'), cstr('ERROR'), Buffer.from('C'), cstr(code), Buffer.from('M'), cstr(text), Buffer.from([0])]));
}

/** One text column, one row, then ready. */
function singleValue(column: string, value: string): Buffer {
  const field = Buffer.concat([cstr(column), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)]);
  const rowDescription = message('T', Buffer.concat([int16(1), field]));
  const dataRow = message('D', Buffer.concat([int16(1), int32(Buffer.byteLength(value)), Buffer.from(value)]));
  return Buffer.concat([rowDescription, dataRow, message('C', cstr('SHOW')), ready()]);
}

/**
 * A TCP server speaking just enough of the PostgreSQL protocol to play a host that is not the
 * writable primary (trust authentication, simple and extended queries answered by role).
 */
export class FakePostgres {
  /** Connections accepted, and the statements they sent (simple queries' text, `<extended>` otherwise). */
  connections = 0;
  readonly statements: string[] = [];
  private demoted = false;
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly role: FakeRole,
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(role: FakeRole): Promise<FakePostgres> {
    let fake: FakePostgres | null = null;
    const server = createServer((socket) => fake?.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    fake = new FakePostgres(role, server, typeof address === 'object' && address !== null ? address.port : 0);
    return fake;
  }

  get hostPort(): string {
    return `127.0.0.1:${String(this.port)}`;
  }

  private reportsStandby(): boolean {
    return this.role === 'standby' || (this.role === 'demoting' && this.demoted);
  }

  private accept(socket: Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    let started = false;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (!started) {
          if (buffered.length < 4) return;
          const length = buffered.readInt32BE(0);
          if (buffered.length < length) return;
          buffered = buffered.subarray(length);
          started = true;
          socket.write(this.greeting());
          continue;
        }
        if (buffered.length < 5) return;
        const type = String.fromCharCode(buffered[0] ?? 0);
        const length = buffered.readInt32BE(1);
        if (buffered.length < length + 1) return;
        const body = buffered.subarray(5, length + 1);
        buffered = buffered.subarray(length + 1);
        if (type === 'X') {
          socket.end();
          return;
        }
        if (type === 'Q') this.answer(socket, body.toString('utf8').replace(/\0$/, ''));
        else if (type === 'S') this.answer(socket, '<extended>');
      }
    });
  }

  private greeting(): Buffer {
    const parameters = [parameter('server_version', this.role === 'old-standby' ? '13.0' : '15.0'), parameter('client_encoding', 'UTF8')];
    if (this.role !== 'old-standby') {
      parameters.push(parameter('in_hot_standby', this.reportsStandby() ? 'on' : 'off'), parameter('default_transaction_read_only', 'off'));
    }
    return Buffer.concat([message('R', int32(0)), ...parameters, message('K', Buffer.concat([int32(4242), int32(1)])), ready()]);
  }

  private answer(socket: Socket, statement: string): void {
    this.statements.push(statement);
    if (/^SHOW transaction_read_only$/i.test(statement.trim())) {
      socket.write(singleValue('transaction_read_only', this.reportsStandby() || this.role === 'old-standby' ? 'on' : 'off'));
      return;
    }
    this.demoted = true;
    socket.write(Buffer.concat([errorResponse('25006', 'cannot execute INSERT in a read-only transaction'), ready()]));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => { resolve(); }));
  }
}
