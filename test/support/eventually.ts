/** Polls `check` until it holds; throws after `timeoutMs`. For state that settles asynchronously. */
export async function expectEventually(check: () => Promise<boolean>, timeoutMs = 5_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
