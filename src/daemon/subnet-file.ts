// The subnet file in flannel's format, read by the flannel CNI plugin (and by
// anything that sourced /run/flannel/subnet.env before):
//
//   FLANNEL_NETWORK=10.244.0.0/16
//   FLANNEL_SUBNET=10.244.1.1/24
//   FLANNEL_MTU=1450
//   FLANNEL_IPMASQ=false
//
// With EnableIPv6 (flannel pkg/subnet/subnet.go WriteSubnetFile), after the IPv4
// lines and only when EnableIPv6 is set, the IPv6 network and the first address of
// the IPv6 subnet (IP6Net.IncrementIP), both in Go's net.IP text (RFC 5952):
//
//   FLANNEL_NETWORK=10.244.0.0/16            (only when EnableIPv4: absent on
//   FLANNEL_SUBNET=10.244.1.1/24              an IPv6-only network)
//   FLANNEL_IPV6_NETWORK=fd00:10:244::/56
//   FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64
//   FLANNEL_MTU=1450
//   FLANNEL_IPMASQ=false
//
// Written atomically (temp file in the same directory, fsync, rename), so a
// reader never sees half a file.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import type { NetworkConfig } from '../registry/config.js';
import { formatIPv4, parseCidr4 } from '../registry/ipv4.js';
import { formatCidr6, formatIPv6, parseCidr6 } from '../registry/ipv6.js';
import type { Lease } from '../registry/types.js';

export interface SubnetFile {
  /** Network of the config; absent on an IPv6-only network (flannel writes no FLANNEL_NETWORK then). */
  network?: string;
  /** First host address of the lease subnet with its length, e.g. 10.244.1.1/24; absent with `network`. */
  subnet?: string;
  /** IPv6Network (EnableIPv6), e.g. fd00:10:244::/56. */
  ipv6Network?: string;
  /** First host address of the IPv6 lease subnet with its length, e.g. fd00:10:244:1::1/64. */
  ipv6Subnet?: string;
  mtu: number;
  ipMasq: boolean;
}

export function formatSubnetFile(s: SubnetFile): string {
  let out = '';
  if (s.network !== undefined && s.subnet !== undefined) out += `FLANNEL_NETWORK=${s.network}\nFLANNEL_SUBNET=${s.subnet}\n`;
  if (s.ipv6Network !== undefined && s.ipv6Subnet !== undefined) out += `FLANNEL_IPV6_NETWORK=${s.ipv6Network}\nFLANNEL_IPV6_SUBNET=${s.ipv6Subnet}\n`;
  return `${out}FLANNEL_MTU=${s.mtu}\nFLANNEL_IPMASQ=${s.ipMasq}\n`;
}

/**
 * The subnet file for this node's lease, as flannel's WriteSubnetFile derives it: each
 * family's lines when the config enables it, the lease subnet's network address + 1.
 */
export function subnetFileFor(config: NetworkConfig, lease: Lease, mtu: number, ipMasq: boolean): SubnetFile {
  const out: SubnetFile = { mtu, ipMasq };
  if (config.EnableIPv4) {
    const sn = parseCidr4(lease.subnet);
    if (sn === null) throw new Error(`the lease has no IPv4 subnet (${JSON.stringify(lease.subnet)}) but the network config enables IPv4`);
    out.network = config.Network;
    out.subnet = `${formatIPv4(sn.ip + 1)}/${sn.len}`;
  }
  if (config.EnableIPv6) {
    const sn6 = lease.ipv6Subnet === undefined ? null : parseCidr6(lease.ipv6Subnet);
    if (sn6 === null || config.IPv6Network === undefined) throw new Error(`the lease has no IPv6 subnet but the network config enables IPv6`);
    out.ipv6Network = formatCidr6(parseCidr6(config.IPv6Network)!);
    out.ipv6Subnet = `${formatIPv6(sn6.ip + 1n)}/${sn6.len}`;
  }
  return out;
}

export async function writeFileAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function writeSubnetFile(path: string, s: SubnetFile): Promise<void> {
  await writeFileAtomic(path, formatSubnetFile(s));
}

/** The FLANNEL_SUBNET of an existing subnet file as a subnet (network address/len), or null. */
export async function readPreviousSubnet(path: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  const m = /^FLANNEL_SUBNET=(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)\s*$/m.exec(text);
  if (!m) return null;
  const len = Number(m[5]);
  if (len > 32) return null;
  const addr = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (addr & mask) >>> 0;
  return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`;
}

/** The FLANNEL_IPV6_SUBNET of an existing subnet file as a subnet (network address/len), or null. */
export async function readPreviousIpv6Subnet(path: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  const m = /^FLANNEL_IPV6_SUBNET=([0-9A-Fa-f:.]+\/\d{1,3})\s*$/m.exec(text);
  const c = m ? parseCidr6(m[1]!) : null;
  return c === null ? null : formatCidr6(c);
}
