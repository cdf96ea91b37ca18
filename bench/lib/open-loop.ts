/**
 * The arrival pattern of the latency benchmark, for the plugin and for the raw DORA baseline
 * alike: `count` calls one after another (rate 0), or open-loop at `rate` per second, call i
 * started at i/rate whatever the earlier ones are doing, so a stall shows in every call that
 * waited behind it.
 */

/**
 * Runs the calls and returns their results in order. Each call is handed the time to count its
 * latency from (performance.now() ms): its planned start, or when it really started if that was
 * earlier. Timers fire on whole milliseconds and a wait under 1 ms is not taken, so at 1,000/s a
 * call can start up to a millisecond early, and counted from its plan it would be timed short;
 * one that starts late still counts its wait.
 */
export async function openLoop<T>(count: number, rate: number, call: (from: number) => Promise<T>): Promise<T[]> {
  if (rate === 0) {
    const out: T[] = [];
    for (let i = 0; i < count; i++) out.push(await call(performance.now()));
    return out;
  }
  const t0 = performance.now();
  const all: Array<Promise<T>> = [];
  for (let i = 0; i < count; i++) {
    const planned = t0 + (i * 1000) / rate;
    const wait = planned - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    all.push(call(Math.min(planned, performance.now())));
  }
  return Promise.all(all);
}
