// This node's VTEP MAC, kept in the state directory so it survives restarts
// (peers' neighbour entries and kernel FDB entries keep pointing at it).
// A fresh one is random, locally administered and unicast (RFC 7042 §2.1).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './subnet-file.js';

const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Reads `<stateDir>/vtep-mac`, or creates it. A corrupt file is an error, not silently replaced. */
export async function loadOrCreateVtepMac(stateDir: string): Promise<{ mac: string; created: boolean }> {
  const path = join(stateDir, 'vtep-mac');
  let text: string | null = null;
  try {
    text = (await readFile(path, 'utf8')).trim().toLowerCase();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== null) {
    if (!MAC_RE.test(text)) throw new Error(`${path} holds "${text}", not a MAC address: fix it or delete it to get a new MAC`);
    return { mac: text, created: false };
  }
  const mac = randomMac();
  await writeFileAtomic(path, `${mac}\n`);
  return { mac, created: true };
}
