/**
 * The opt-in guard against requests to private networks (`blockPrivateNetworks: true`): SSRF protection for
 * services that take base URLs from users. Numeric host forms (`2130706433`, `0x7f.1`, `127.1`) are normalised by
 * the WHATWG URL parser before we see them; IPv4-mapped and NAT64 IPv6 addresses are checked by their IPv4 part.
 * Hostnames are checked after DNS resolution, inside the connection's own lookup, so a name that resolves to a
 * private address (or re-resolves to one later: DNS rebinding) is refused at connect time.
 */
import dns from 'node:dns';
import net from 'node:net';

const blocked = new net.BlockList();
for (const [range, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(range, bits, 'ipv4');
for (const [range, bits] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['100::', 64], ['2001:db8::', 32],
] as const) blocked.addSubnet(range, bits, 'ipv6');

/** True for loopback, private, link-local, CGNAT, documentation, multicast and unspecified addresses. */
export function isPrivateAddress(ip: string): boolean {
  const family = net.isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family !== 6) return false;
  const lower = ip.toLowerCase();
  // IPv4-mapped (::ffff:a.b.c.d or ::ffff:7f00:1) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 address.
  const v4 = embeddedIPv4(lower);
  if (v4 !== null) return blocked.check(v4, 'ipv4');
  return blocked.check(lower, 'ipv6');
}

function embeddedIPv4(ip: string): string | null {
  const m = /^(?:::ffff:(?:0:)?|64:ff9b::)(.+)$/.exec(ip);
  if (m === null) return null;
  const tail = m[1]!;
  if (net.isIPv4(tail)) return tail;
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(tail);
  if (hex === null) return null;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** The error a refused address produces (mapped to `ConfigError` by the transport). */
export class PrivateNetworkError extends Error {
  readonly code = 'ERR_LLM_FIBER_PRIVATE_NETWORK';
  constructor(readonly host: string, readonly address: string) {
    super(`${host} resolves to a private or loopback address (${address}) and blockPrivateNetworks is on`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** A `dns.lookup` replacement for the socket connector that refuses private addresses. */
export function guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) { callback(err, ''); return; }
    const list = addresses as dns.LookupAddress[];
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad !== undefined) { callback(new PrivateNetworkError(hostname, bad.address) as unknown as NodeJS.ErrnoException, ''); return; }
    if (options.all) callback(null, list);
    else callback(null, list[0]!.address, list[0]!.family);
  });
}
