/**
 * Prerequisite checks for lab tests, and `describeLab`, which turns a missing prerequisite into a
 * skip on a developer machine but into a failure under `CI=true` (a CI run that silently skipped
 * every integration test would look green while testing nothing).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';

/** Result of {@link labPrerequisites}: `ok`, or the first reason the lab cannot run here. */
export type LabPrerequisites = { ok: true } | { ok: false; reason: string };

/** The three DHCP servers every lab suite runs against. */
const SERVER_BINARIES = ['dhcpd', 'kea-dhcp4', 'dnsmasq'] as const;

/** Debian installs the servers in sbin, which a non-login PATH may lack. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of executable `name` on PATH (plus the sbin dirs), or null. */
export function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...SBIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory; keep looking
    }
  }
  return null;
}

/**
 * Check that this process can run a lab: root, a working `ip netns`, and the DHCP server
 * binaries plus any `extraBinaries` the caller needs (e.g. `busybox` for udhcpc).
 */
export function labPrerequisites(extraBinaries: readonly string[] = []): LabPrerequisites {
  if (process.getuid?.() !== 0) {
    return { ok: false, reason: 'lab tests need root (network namespaces, veth, raw sockets)' };
  }
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe', timeout: 5_000 });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: `\`ip netns list\` does not work here: ${why}` };
  }
  const missing = [...SERVER_BINARIES, ...extraBinaries].filter((b) => findBinary(b) === null);
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `missing binaries: ${missing.join(', ')} (apt-get install isc-dhcp-server kea-dhcp4-server dnsmasq busybox-static)`,
    };
  }
  return { ok: true };
}

/** Options for {@link describeLab}. */
export interface DescribeLabOptions {
  /** Binaries the suite needs beyond the three servers, e.g. `['busybox', 'tcpdump']`. */
  readonly requires?: readonly string[];
}

/**
 * `describe` for suites that need the lab. Without the prerequisites the suite is skipped with a
 * warning, except under `CI=true`, where it becomes one failing test that states the reason.
 */
export function describeLab(name: string, fn: () => void, options: DescribeLabOptions = {}): void {
  const prereqs = labPrerequisites(options.requires ?? []);
  if (prereqs.ok) {
    describe(name, fn);
    return;
  }
  const { reason } = prereqs;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has the lab prerequisites (required under CI=true)', () => {
        throw new Error(`lab prerequisites missing: ${reason}`);
      });
    });
    return;
  }
  console.warn(`[lab] skipping "${name}": ${reason}`);
  describe.skipIf(true)(`${name} (skipped: ${reason})`, fn);
}
