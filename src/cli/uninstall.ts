// `weft uninstall`: removes what `weft run` leaves on the node for the next
// weft (src/daemon/uninstall.ts): the TUN with its address and route, direct
// routes, the subnet file. Run it where weft ran (its network namespace), after
// the last weft has stopped.
import { parseArgs } from 'node:util';
import { StillRunningError, uninstall } from '../daemon/uninstall.js';

const USAGE = `usage: weft uninstall [--tun-name weft0] [--subnet-file /run/flannel/subnet.env] [--keep-subnet-file] [--force]

Removes the TUN device weft leaves for the next start (its address and the
cluster route go with it), weft's direct routes and the subnet file. Refuses
while a weft still holds the device, unless --force. Leaves the lease in the
registry, the state dir (VTEP MAC) and flannel's iptables chains.`;

export async function uninstallCommand(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        'tun-name': { type: 'string', default: 'weft0' },
        'subnet-file': { type: 'string', default: '/run/flannel/subnet.env' },
        'keep-subnet-file': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`weft uninstall: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    const r = await uninstall({ tunName: v['tun-name']!, subnetFile: v['keep-subnet-file'] ? null : v['subnet-file']!, force: v.force! });
    console.log(`${v['tun-name']}: ${r.tun}; direct routes removed: ${r.directRoutes}; subnet file ${v['subnet-file']}: ${r.subnetFile}`);
    return 0;
  } catch (e) {
    console.error(`weft uninstall: ${(e as Error).message}`);
    return e instanceof StillRunningError ? 3 : 1;
  }
}
