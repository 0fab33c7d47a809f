// Errors of the subnet registry. Callers match on `code`, never on the text; the
// text names what is wrong and how to fix it.
import { WeftError } from '../../native-free/errors.js';

/** The network config (or a registry option) is invalid; the message names the key and the fix. */
export class ConfigError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_CONFIG', message);
  }
}

/** There is no network config at `<prefix>/config`. */
export class NoNetworkConfigError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_NO_NETWORK_CONFIG', message);
  }
}

/** The registry (etcd endpoint, registry file or its lock) cannot be reached in time. */
export class RegistryUnavailableError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WEFT_REGISTRY_UNAVAILABLE', message);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** Every subnet between SubnetMin and SubnetMax is leased. */
export class SubnetsExhaustedError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_SUBNETS_EXHAUSTED', message);
  }
}

/** Our lease was removed, expired or rewritten by someone else: stop using the subnet. */
export class LeaseLostError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_LEASE_LOST', message);
  }
}

/** Anything else the registry cannot do (corrupt data, endless contention). */
export class RegistryError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WEFT_REGISTRY', message);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
