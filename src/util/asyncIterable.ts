/** `items` as an async iterable, for a caller that takes parts as they arrive and has them all at hand. */
export async function* asyncIterable<T>(items: Iterable<T>): AsyncIterable<T> {
  yield* items;
}
