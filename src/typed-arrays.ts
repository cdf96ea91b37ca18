/**
 * Growing a typed array that numbers live in (the lease entries' rows, the timer queue's due
 * times): a copy twice the size, so each number is copied a bounded number of times in all, as a
 * Map's table is when it grows.
 */
export function doubled(a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(Math.max(1, a.length * 2));
  grown.set(a);
  return grown;
}
