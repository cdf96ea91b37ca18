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
      {
        test: {
          name: 'packaging',
          // The built executable and packages (./build-rpm.sh first), one file at a time. Not in
          // the integration project: installing the .deb puts /usr/bin/oam-docker-ipam and
          // /etc/oam-docker-ipam on this machine for a few seconds, which other files' runs of
          // the command would see; scripts/test.sh runs this project alone.
          include: ['test/packaging/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 60_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          // A real Docker engine: one per machine, and some tests restart it, so these files
          // run one after another (beside the integration project, in its own process).
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 240_000,
          hookTimeout: 120_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
    ],
  },
});
