import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          // Real servers and real timers: lease renewals take tens of seconds by design.
          testTimeout: 240_000,
          hookTimeout: 60_000,
          pool: 'forks',
          // Each file owns its lab (namespace, subnet, server), so files can run side by side;
          // they are I/O bound, so more workers than cores is fine.
          maxWorkers: 6,
          fileParallelism: true,
        },
      },
    ],
  },
});
