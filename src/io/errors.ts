/**
 * Errors that reach users. Each carries the file (or input) it is about and one
 * sentence saying what is wrong, so the CLI can print a single clear line.
 */
export class SteererError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A model, tokenizer or vector file that cannot be read as what it claims to be. */
export class ModelFileError extends SteererError {
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${problem}`, options);
  }
}

/** A request that does not fit the model (unknown layer, wrong vector size, bad number...). */
export class InvalidInputError extends SteererError {}
