import { BlockList, isIP } from 'node:net';

/**
 * The addresses an outbound webhook may never reach (docs/security.md 50): loopback, private,
 * CGNAT, link-local (cloud metadata), multicast, unspecified and reserved IPv4; IPv6 loopback,
 * unspecified, ULA, link-local and multicast; and every IPv6 form that embeds an IPv4 address
 * (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, NAT64 64:ff9b::/96), judged by the IPv4
 * address inside.
 */
const BLOCKED_V4: [string, number, string][] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const BLOCKED_V6: [string, number, string][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fc00::', 7, 'unique local'],
  ['fe80::', 10, 'link-local'],
  ['ff00::', 8, 'multicast'],
];

const lists = [...BLOCKED_V4.map((r) => [r, 'ipv4'] as const), ...BLOCKED_V6.map((r) => [r, 'ipv6'] as const)].map(([[net, prefix, label], family]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, family);
  return { list, family, label };
});

/** The eight 16-bit groups of an IPv6 address (dotted IPv4 tails included). */
function ipv6Groups(address: string): number[] {
  let text = address.split('%')[0] ?? '';
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted[1].split('.').map(Number);
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** The IPv4 address an IPv6 address carries in its last 32 bits, when its prefix says it does. */
function embeddedIpv4(address: string): string | null {
  const g = ipv6Groups(address);
  const low = `${String((g[6] ?? 0) >> 8)}.${String((g[6] ?? 0) & 255)}.${String((g[7] ?? 0) >> 8)}.${String((g[7] ?? 0) & 255)}`;
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(5) && g[5] === 0xffff) return low; // ::ffff:a.b.c.d (IPv4-mapped)
  if (zeroUpTo(6) && (g[6] ?? 0) !== 0) return low; // ::a.b.c.d (IPv4-compatible; ::1 and :: stay IPv6)
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0) return low; // NAT64
  return null;
}

/**
 * Why `address` (a literal IPv4 or IPv6 address) must not be reached, or null when it may. Not an
 * IP address at all is refused too: callers pass what DNS returned or what the URL spelled.
 */
export function forbiddenAddressReason(address: string): string | null {
  const family = isIP(address.split('%')[0] ?? '');
  if (family === 0) return 'not an IP address';
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4 !== null) {
      const inner = forbiddenAddressReason(v4);
      return inner === null ? null : `${inner} (IPv4 inside IPv6)`;
    }
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const hit = lists.find((l) => l.family === type && l.list.check(address.split('%')[0] ?? '', type));
  return hit ? `${hit.label} address` : null;
}
