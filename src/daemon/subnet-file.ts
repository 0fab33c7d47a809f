// The subnet file in flannel's format, read by the flannel CNI plugin (and by
// anything that sourced /run/flannel/subnet.env before):
//
//   FLANNEL_NETWORK=10.244.0.0/16
//   FLANNEL_SUBNET=10.244.1.1/24
//   FLANNEL_MTU=1450
//   FLANNEL_IPMASQ=false
//
// Written atomically (temp file in the same directory, fsync, rename), so a
// reader never sees half a file.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

export interface SubnetFile {
  network: string;
  /** First host address of the lease subnet with its length, e.g. 10.244.1.1/24. */
  subnet: string;
  mtu: number;
  ipMasq: boolean;
}

export function formatSubnetFile(s: SubnetFile): string {
  return `FLANNEL_NETWORK=${s.network}\nFLANNEL_SUBNET=${s.subnet}\nFLANNEL_MTU=${s.mtu}\nFLANNEL_IPMASQ=${s.ipMasq}\n`;
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
