// Cross-checks packets against an independent decoder: Wireshark's tshark.
//
//   const rows = await decodeWithTshark([frame], {
//     linktype: LINKTYPE_ETHERNET,
//     fields: ['ip.src', 'vxlan.vni', 'ip.checksum.status'],
//     decodeAs: ['udp.port==8472,vxlan'],
//   });
//   rows[0]['ip.src'] // ['192.168.0.1', '10.244.1.2'] — outer first, inner second
//
// Each row is one frame; each field is the list of its occurrences in that
// frame, in dissection order (outer header before inner), [] when absent.
// Values are tshark's own strings: numbers in decimal ('17'), hex fields as
// tshark shows them ('0x1491'), addresses as '10.244.1.1' / '02:42:0a:f4:01:02'
// / '::1', booleans as '1' / '0'.
//
// Checksums: ip.check_checksum and udp.check_checksum are off by default in
// tshark; CHECKSUM_PREFS turns them on (ICMP and ICMPv6 are always checked),
// so `*.checksum.status` fields read TSHARK_CHECKSUM.GOOD ('1') for a good
// checksum.
//
// Availability: in CI (env CI set) tshark is required and a missing tshark
// fails the suite; locally the suite is skipped with a message. Use
//   describe.skipIf(skipWithoutTshark('pcap round trip'))('...', () => { ... })

import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { pcapFile } from '../../native-free/pcap.js';

/** Values of `*.checksum.status` (Wireshark's proto_checksum_enum_e). */
export const TSHARK_CHECKSUM = {
  BAD: '0',
  GOOD: '1',
  UNVERIFIED: '2',
  NOT_PRESENT: '3',
  ILLEGAL: '4',
} as const;

/** Preferences that make tshark verify the IPv4 header and UDP / TCP checksums. */
export const CHECKSUM_PREFS: readonly string[] = [
  'ip.check_checksum:TRUE',
  'udp.check_checksum:TRUE',
  'tcp.check_checksum:TRUE',
];

export interface TsharkOptions<F extends string> {
  /** pcap link type of the frames: LINKTYPE_ETHERNET, LINKTYPE_RAW, ... */
  linktype: number;
  /** Display field names, e.g. 'ip.src', 'vxlan.vni' (`tshark -G fields`). */
  fields: readonly F[];
  /** "Decode as" rules for -d, e.g. 'udp.port==8472,vxlan'. */
  decodeAs?: readonly string[];
  /** Extra preferences for -o, e.g. 'vxlan.udp.port:8472'. Added after CHECKSUM_PREFS. */
  prefs?: readonly string[];
  /** Do not add CHECKSUM_PREFS (default: added). */
  noChecksumPrefs?: boolean;
  /** Time of the first frame in microseconds since the epoch (default 1_700_000_000_000_000); frames are 1 ms apart. */
  startMicros?: number;
}

export type TsharkRow<F extends string> = Record<F, string[]>;

let available: boolean | undefined;

/** True when `tshark -v` runs. */
export function haveTshark(): boolean {
  if (available === undefined) {
    const r = spawnSync('tshark', ['-v'], { stdio: 'ignore', timeout: 30_000 });
    available = r.error === undefined && r.status === 0;
  }
  return available;
}

/** True when the environment says this is a CI run (CI set, and not "false" / "0"). */
export function isCi(): boolean {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/**
 * For `describe.skipIf(skipWithoutTshark(name))`: false when tshark is there;
 * when it is missing, throws in CI (the test file fails) and otherwise prints
 * why and returns true (skip).
 */
export function skipWithoutTshark(suite: string): boolean {
  if (haveTshark()) return false;
  if (isCi()) {
    throw new Error(
      `${suite}: tshark is required in CI but was not found on PATH (install it: apt-get install -y tshark)`,
    );
  }
  console.warn(`${suite}: skipped, tshark not found on PATH (apt-get install -y tshark to run it)`);
  return true;
}

/**
 * Writes `frames` to a temporary pcap of `opts.linktype` and decodes them with
 * tshark. Returns one row per frame, in order. Throws when tshark exits
 * non-zero (unknown field, bad preference or decode-as rule, ...) or returns
 * a different number of frames; the pcap is then kept and its path is in
 * the message.
 */
export async function decodeWithTshark<const F extends string>(
  frames: readonly Uint8Array[],
  opts: TsharkOptions<F>,
): Promise<Array<TsharkRow<F>>> {
  const start = opts.startMicros ?? 1_700_000_000_000_000;
  const file = pcapFile(
    opts.linktype,
    frames.map((data, i) => ({ data, tsMicros: start + i * 1000 })),
  );
  const dir = await mkdtemp(join(tmpdir(), 'weft-tshark-'));
  const path = join(dir, 'frames.pcap');
  await writeFile(path, file);
  let keep = true;
  try {
    const rows = await decodePcapFile(path, opts);
    if (rows.length !== frames.length) {
      throw new Error(`tshark decoded ${rows.length} frames of ${frames.length} in ${path}`);
    }
    keep = false;
    return rows;
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
}

/** Decodes an existing capture file (pcap or pcapng); one row per frame. */
export async function decodePcapFile<const F extends string>(
  path: string,
  opts: Omit<TsharkOptions<F>, 'linktype' | 'startMicros'>,
): Promise<Array<TsharkRow<F>>> {
  if (opts.fields.length === 0) throw new Error('decodePcapFile: no fields asked for');
  const args = ['-r', path, '-n', '-T', 'json'];
  const prefs = [...(opts.noChecksumPrefs === true ? [] : CHECKSUM_PREFS), ...(opts.prefs ?? [])];
  for (const p of prefs) args.push('-o', p);
  for (const d of opts.decodeAs ?? []) args.push('-d', d);
  for (const f of opts.fields) args.push('-e', f);

  const stdout = await runTshark(args, path);
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout.trim() === '' ? '[]' : stdout);
  } catch (e) {
    throw new Error(`tshark output for ${path} is not JSON: ${(e as Error).message}\n${stdout.slice(0, 2000)}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`tshark output for ${path} is not a JSON array`);
  return parsed.map((pkt: unknown, i: number) => {
    const layers = (pkt as { _source?: { layers?: Record<string, unknown> } })._source?.layers;
    if (layers === undefined || layers === null || typeof layers !== 'object') {
      throw new Error(`tshark output for ${path}: frame ${i + 1} has no _source.layers`);
    }
    const row = {} as TsharkRow<F>;
    for (const f of opts.fields) {
      const v = layers[f];
      row[f] = v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
    }
    return row;
  });
}

function runTshark(args: string[], path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'tshark',
      args,
      {
        maxBuffer: 256 * 1024 * 1024,
        timeout: 120_000,
        // A user's Wireshark profile must not change what the tests see.
        env: { ...process.env, WIRESHARK_CONFIG_DIR: join(tmpdir(), 'weft-tshark-empty-profile') },
      },
      (err, stdout, stderr) => {
        if (err !== null) {
          // stderr always carries noise such as 'Running as user "root" ...';
          // it is only shown when tshark failed.
          const how =
            (err as NodeJS.ErrnoException).code === 'ENOENT'
              ? 'tshark not found on PATH (apt-get install -y tshark)'
              : `tshark exited with ${err.code ?? err.signal ?? 'an error'}`;
          reject(new Error(`${how}: tshark ${args.join(' ')}\n${stderr.trim()}\n(capture kept at ${path})`));
          return;
        }
        resolve(stdout);
      },
    );
  });
}
