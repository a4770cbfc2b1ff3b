/**
 * An error caused by the user's input (a bad file, a wrong path, a full disk),
 * not by a bug in npad. Its message starts with the path of the file concerned,
 * so that it can be shown to the user as it is.
 */
export class NpadInputError extends Error {
  /**
   * @param message what went wrong, starting with the file path
   * @param file the file concerned, when there is one
   */
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'NpadInputError';
  }
}

/**
 * A configuration the caller got wrong: an option out of its range or of the wrong kind, a combination that cannot
 * work, too few images for the method. Like NpadInputError, the caller's mistake and not a bug: the CLI shows its
 * message alone and exits 2. It is a RangeError, so callers that caught RangeError for bad options still do; a plain
 * RangeError from inside npad (an internal check, V8 failing to allocate) is a bug and exits 1 with its stack.
 */
export class NpadConfigError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'NpadConfigError';
  }
}
