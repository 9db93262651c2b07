import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, request } from 'undici';
import { forbiddenAddressReason } from './address-policy.js';

/**
 * Outbound HTTP for webhooks (docs/security.md 50). The host is resolved once, inside the
 * connection's own `lookup` hook, every address is checked, and the socket connects to the address
 * that was checked: there is no second lookup a DNS rebinding could answer differently. A literal
 * IP in the URL is checked before the request (no lookup happens for it). Redirects are never
 * followed (undici's `request` has no redirect handling unless an interceptor adds it), at most
 * `maxResponseBytes` of a body are read, and the whole exchange is bounded by `timeoutMs`.
 */
export interface PinnedClientOptions {
  allowPrivateNetworks: boolean;
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** DNS resolution (node's `dns.lookup` by default); tests resolve names of their own with it. */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string>;
  /** The first `maxResponseBytes` of the body, as text. */
  body: string;
}

export type OutboundErrorKind = 'blocked_address' | 'timeout' | 'network' | 'invalid_url';

/** A request that got no HTTP response; `message` is safe to store and show (no secrets in it). */
export class OutboundError extends Error {
  constructor(
    readonly kind: OutboundErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'OutboundError';
  }
}

function systemResolve(hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err) reject(err);
      else resolve(addresses);
    });
  });
}

/** The first error in a cause chain that is ours. */
function outboundCause(err: unknown): OutboundError | null {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof OutboundError) return e;
  }
  return null;
}

export class PinnedHttpClient {
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(private readonly options: PinnedClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxResponseBytes = options.maxResponseBytes ?? 64 * 1024;
    const resolve = options.resolve ?? systemResolve;
    const allowPrivate = options.allowPrivateNetworks;
    // net.connect calls this for a hostname (never for a literal IP); with `all` it wants every
    // address (Happy Eyeballs), otherwise one. Either way only checked addresses are handed back.
    const lookup: LookupFunction = (hostname, opts, callback) => {
      resolve(hostname).then(
        (addresses) => {
          const wanted = opts.family === 4 || opts.family === 6 ? addresses.filter((a) => a.family === opts.family) : addresses;
          if (wanted.length === 0) throw new OutboundError('network', `${hostname} has no address`);
          if (!allowPrivate) {
            for (const a of wanted) {
              const reason = forbiddenAddressReason(a.address);
              if (reason) throw new OutboundError('blocked_address', `${hostname} resolves to a refused ${reason}`);
            }
          }
          if (opts.all) callback(null, wanted);
          else callback(null, wanted[0]?.address ?? '', wanted[0]?.family ?? 4);
        },
      ).catch((err: unknown) => {
        callback(err instanceof OutboundError ? err : new OutboundError('network', `cannot resolve ${hostname}`), '', 4);
      });
    };
    this.agent = new Agent({
      connect: { lookup, timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  /** Refuses a URL whose literal address is out of bounds; a hostname is checked at connect time. */
  private checkLiteral(url: URL): void {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (this.options.allowPrivateNetworks || isIP(host) === 0) return;
    const reason = forbiddenAddressReason(host);
    if (reason) throw new OutboundError('blocked_address', `refused ${reason}`);
  }

  async post(target: string, headers: Record<string, string>, body: string): Promise<OutboundResponse> {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      throw new OutboundError('invalid_url', 'invalid URL');
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
      throw new OutboundError('invalid_url', 'only http(s) URLs without credentials');
    }
    this.checkLiteral(url);
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const res = await request(url, { method: 'POST', headers, body, dispatcher: this.agent, signal });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const room = this.maxResponseBytes - size;
        chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
        size += Math.min(chunk.length, room);
        if (size >= this.maxResponseBytes) break;
      }
      // Leaving the loop early (the cap) or not: the rest is never read; the socket is discarded.
      res.body.destroy();
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
      return { status: res.statusCode, headers: out, body: Buffer.concat(chunks).toString('utf8') };
    } catch (err) {
      const ours = outboundCause(err);
      if (ours) throw ours;
      if (signal.aborted) throw new OutboundError('timeout', `no complete response within ${String(this.timeoutMs / 1000)} s`);
      const code = (err as { code?: unknown }).code;
      throw new OutboundError('network', typeof code === 'string' ? `connection failed (${code})` : 'connection failed');
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
