/**
 * Counts the turns of the event loop (setImmediate callbacks) until `stop()`: a test of a pass
 * over a large table checks that it let the loop run between its chunks. A pass that runs in
 * one turn, or only through promise callbacks, lets none run before it resolves.
 */
export function countTurns(): { stop(): number } {
  let turns = 0;
  let counting = true;
  const count = (): void => {
    if (!counting) return;
    turns++;
    setImmediate(count);
  };
  setImmediate(count);
  return {
    stop() {
      counting = false;
      return turns;
    },
  };
}
