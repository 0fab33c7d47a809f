// Errors with stable codes: callers (CLI, logs, tests) match on `code`, never on text.

export class WeftError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A value given by a user or a peer (prefix, address, MAC, config key) is malformed. */
export class InvalidArgumentError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_INVALID_ARGUMENT', message);
  }
}

/** A fixed-capacity structure (route table, peer table, buffer pool) is full. */
export class CapacityError extends WeftError {
  constructor(message: string) {
    super('ERR_WEFT_CAPACITY', message);
  }
}
