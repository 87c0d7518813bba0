import { isIPv4, isIPv6 } from "node:net";

/**
 * The part of a client address that names one client, for counting and binding: an IPv4
 * address as it is, an IPv6 address by its /64 prefix. One IPv6 host usually holds a whole
 * /64 (and privacy addresses rotate within it), so keying per /128 would give an attacker
 * 2^64 fresh addresses to spread guesses over. IPv4-mapped IPv6 (::ffff:a.b.c.d) is IPv4.
 */
export function clientAddressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1];
  const bare = address.replace(/%.*$/, "");
  if (!isIPv6(bare)) return address;
  const [head = "", tail = ""] = bare.split("::");
  const headParts = head === "" ? [] : head.split(":");
  const tailParts = bare.includes("::") ? (tail === "" ? [] : tail.split(":")) : [];
  // An embedded IPv4 tail (::1.2.3.4) counts as two groups; it lies past the /64 anyway.
  const groups = bare.includes("::")
    ? [...headParts, ...Array(Math.max(0, 8 - headParts.length - tailParts.length)).fill("0"), ...tailParts]
    : headParts;
  const prefix = groups.slice(0, 4).map((group) => (Number.parseInt(group, 16) || 0).toString(16));
  return `${prefix.join(":")}::/64`;
}
