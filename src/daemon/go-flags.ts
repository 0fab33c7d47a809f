// Command-line parsing with the rules of Go's `flag` package, which flanneld uses,
// so that a kube-flannel.yml or systemd unit's arguments mean the same to weft:
//
//   -name / --name            one or two dashes, same meaning
//   -name=value / -name value a non-boolean flag takes the next argument if no "="
//   -name / -name=false       a boolean is set by its name alone; a value only with "="
//                             (strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False)
//   --                        ends the flags
//   -h / -help                usage
//
// flanneld copies three of klog's flags into its own set: -v, -vmodule and
// -log_backtrace_at (main.go, copyFlag). weft maps -v onto its log level and ignores
// the other two with a warning; any other klog flag is unknown to flanneld too.
//
// Where weft is stricter than Go, it says so: Go stops at the first argument that is
// not a flag and flanneld silently ignores the rest; weft refuses it, because
// `--ip-masq true --iface eth1` would otherwise drop --iface without a word. The one
// exception is a literal true/false after a boolean, which Go would stop at, and
// which weft takes as the boolean's value (what the writer meant).
import { WeftError } from '../../native-free/errors.js';

export class FlagError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_FLAG', message);
  }
}

export interface GoFlagSpec {
  type: 'string' | 'boolean';
  /** May be given several times; every value is kept, in order. */
  multiple?: boolean;
}

export interface GoFlagResult {
  /** Flags given on the command line: strings, string lists or booleans. */
  values: Record<string, string | string[] | boolean>;
  /** klog's -v, if given (0 and up). */
  verbosity: number | null;
  /** What was accepted but ignored, for the daemon to log once it has a logger. */
  warnings: string[];
}

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** strconv.ParseBool; null if the text is none of its spellings. */
export function goBool(text: string): boolean | null {
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  return null;
}

/** klog flags flanneld accepts and weft ignores. */
const KLOG_IGNORED = new Set(['vmodule', 'log_backtrace_at']);

export function parseGoFlags(argv: readonly string[], specs: Record<string, GoFlagSpec>, usageHint: string): GoFlagResult {
  const values: Record<string, string | string[] | boolean> = {};
  const warnings: string[] = [];
  let verbosity: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (i + 1 < argv.length) throw new FlagError(`unexpected argument "${argv[i + 1]}" after "--": weft run takes flags only; ${usageHint}`);
      break;
    }
    const m = /^--?([^-=][^=]*)(?:=([\s\S]*))?$/.exec(arg);
    if (m === null) {
      throw new FlagError(`unexpected argument "${arg}": weft run takes flags only (-name=value or --name value); ${usageHint}`);
    }
    const name = m[1]!;
    const inline = m[2];
    const takeValue = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined) throw new FlagError(`flag needs an argument: -${name}; ${usageHint}`);
      i++;
      return next;
    };
    if (name === 'h') {
      values['help'] = true;
      continue;
    }
    if (name === 'v') {
      const text = takeValue();
      if (!/^\d+$/.test(text)) throw new FlagError(`-v is "${text}": klog's verbosity is a whole number such as 2`);
      verbosity = Number(text);
      continue;
    }
    if (KLOG_IGNORED.has(name)) {
      warnings.push(`-${name}=${takeValue()} is a klog flag weft does not use; ignored (weft logs JSON lines through pino, see --log-level)`);
      continue;
    }
    const spec = specs[name];
    if (spec === undefined) throw new FlagError(`flag provided but not defined: -${name}; ${usageHint}`);
    let value: string | boolean;
    if (spec.type === 'boolean') {
      if (inline !== undefined) {
        const b = goBool(inline);
        if (b === null) throw new FlagError(`-${name} is "${inline}": a boolean takes true or false (or 1, 0, t, f)`);
        value = b;
      } else {
        const next = argv[i + 1];
        const b = next === 'true' || next === 'false' ? goBool(next) : null;
        if (b !== null) i++;
        value = b ?? true;
      }
    } else {
      value = takeValue();
    }
    if (spec.multiple) {
      const list = (values[name] as string[] | undefined) ?? [];
      list.push(String(value));
      values[name] = list;
    } else {
      values[name] = value;
    }
  }
  return { values, verbosity, warnings };
}

/** klog verbosity → weft's level: 0–3 info (flannel logs its normal messages at V(0)–V(3)), 4–5 debug, 6+ trace. */
export function levelForVerbosity(v: number): 'info' | 'debug' | 'trace' {
  if (v >= 6) return 'trace';
  if (v >= 4) return 'debug';
  return 'info';
}
