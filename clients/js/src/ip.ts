/**
 * Client addresses. An agent must not be able to claim its own IP: the address comes from the
 * connection, and X-Forwarded-For is believed only as far as proxies the operator trusts
 * wrote it. The same rules as Kavach's Go clientip package, formatted as Go formats them.
 */

type Addr = { bytes: Uint8Array; v4: boolean };

/** Finds client addresses; with no trusted proxies the connection's peer is the client. */
export class ClientIPResolver {
  private readonly trusted: { net: Addr; bits: number }[] = [];

  /** trustedProxies are addresses or CIDRs; a malformed one throws. */
  constructor(trustedProxies: readonly string[] = []) {
    for (const raw of trustedProxies) {
      const s = raw.trim();
      if (s === "") continue;
      const [host, len, extra] = s.split("/");
      const a = parseAddr(host);
      const max = a ? (a.v4 ? 32 : 128) : 0;
      const bits = len === undefined ? max : /^[0-9]{1,3}$/.test(len) ? Number(len) : -1;
      if (!a || extra !== undefined || bits < 0 || bits > max) {
        throw new Error(`trusted proxy "${s}": not an IP address or CIDR`);
      }
      this.trusted.push({ net: a, bits });
    }
  }

  /**
   * The client's address, given the connection's remote address ("ip", "ip:port" or
   * "[ipv6]:port") and the X-Forwarded-For values. Walking from the peer towards the client,
   * every hop a trusted proxy added is accepted; the first address not written by a trusted
   * proxy is the client. A malformed entry stops the walk at the last trusted hop. "" only if
   * the remote address itself is unparseable.
   */
  resolve(remoteAddress: string | undefined, forwardedFor: readonly string[] = []): string {
    const peer = parseAddr(stripPort(remoteAddress ?? ""));
    if (!peer) return "";
    if (!this.isTrusted(peer)) return formatAddr(peer);
    const hops = forwardedFor.flatMap((v) => v.split(",")).map((h) => h.trim()).filter((h) => h !== "");
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const a = parseAddr(stripPort(hops[i]));
      if (!a) return formatAddr(client);
      client = a;
      if (!this.isTrusted(a)) return formatAddr(a);
    }
    return formatAddr(client);
  }

  private isTrusted(a: Addr): boolean {
    return this.trusted.some((p) => p.net.v4 === a.v4 && samePrefix(p.net.bytes, a.bytes, p.bits));
  }
}

function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i] & mask) !== (b[i] & mask)) return false;
  }
  return true;
}

/** stripPort turns "ip:port" and "[ipv6]:port" into the address. */
function stripPort(s: string): string {
  const bracket = /^\[([^\]]+)\](?::[0-9]*)?$/.exec(s);
  if (bracket) return bracket[1];
  const colon = s.indexOf(":");
  if (colon >= 0 && colon === s.lastIndexOf(":")) return s.slice(0, colon); // v4:port
  return s;
}

/** parseAddr reads an IPv4 or IPv6 address, dropping a zone and unmapping IPv4-in-IPv6. */
export function parseAddr(s: string): Addr | undefined {
  if (s.includes(".") && !s.includes(":")) {
    const b = parseV4(s);
    return b && { bytes: b, v4: true };
  }
  const pct = s.indexOf("%");
  const v6 = parseV6(pct >= 0 ? s.slice(0, pct) : s);
  if (!v6) return undefined;
  if (v6.slice(0, 10).every((x) => x === 0) && v6[10] === 0xff && v6[11] === 0xff) {
    return { bytes: v6.slice(12), v4: true };
  }
  return { bytes: v6, v4: false };
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const b = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(parts[i]) || Number(parts[i]) > 255) return undefined;
    b[i] = Number(parts[i]);
  }
  return b;
}

function parseV6(s: string): Uint8Array | undefined {
  if (s === "" || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === "") return [];
    const out: number[] = [];
    const parts = h.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseV4(p);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const b = new Uint8Array(16);
  all.forEach((g, i) => {
    b[2 * i] = g >> 8;
    b[2 * i + 1] = g & 0xff;
  });
  return b;
}

/** formatAddr writes an address as Go's netip does (RFC 5952 for IPv6). */
export function formatAddr(a: Addr): string {
  if (a.v4) return Array.from(a.bytes).join(".");
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((a.bytes[i] << 8) | a.bytes[i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (out !== "" && !out.endsWith(":")) out += ":";
    out += g[i].toString(16);
  }
  return out;
}
