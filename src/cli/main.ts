// weft's command line: one entry point, one small module per command.
import { weftVersion } from './version.js';
import { captureCommand } from './capture.js';
import { labCommand } from './lab.js';
import { runCommand } from './run.js';
import { statusCommand } from './status.js';
import { traceCommand } from './trace.js';
import { uninstallCommand } from './uninstall.js';

interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  lab: {
    summary: 'a virtual cluster on this machine, from network namespaces: up, status, exec, down, demo',
    run: labCommand,
  },
  run: {
    summary: 'run the node daemon: lease a subnet, program the TUN, forward packets',
    run: runCommand,
  },
  capture: {
    summary: 'write what the data plane sends and receives to a pcap file (--inner or --outer)',
    run: captureCommand,
  },
  status: {
    summary: "show the local daemon's lease, peers, counters and drops (--json for scripts)",
    run: statusCommand,
  },
  trace: {
    summary: 'walk one packet through this node: route, peer, headers, MTU, receiver checks',
    run: traceCommand,
  },
  uninstall: {
    summary: 'remove what weft run leaves for the next start: the TUN (address, route), direct routes, the subnet file',
    run: uninstallCommand,
  },
  version: {
    summary: 'print the weft version',
    async run() {
      console.log(weftVersion());
      return 0;
    },
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'weft: a userspace overlay data plane (VXLAN, IP-in-IP, UDP) for container clusters',
    '',
    'usage: weft <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'Run `weft <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  if (name === '--version') return commands.version!.run([]);
  const command = commands[name];
  if (!command) {
    console.error(`weft: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}
