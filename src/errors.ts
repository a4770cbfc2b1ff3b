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
