/**
 * Integration files run side by side, each in a lab on 10.231.<octet>.0/24: two files that
 * pick the same octet collide when they run together (one tears down or refuses the other's
 * subnet). This keeps every literal lab octet in one file only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'fixtures' ? [] : sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

describe('lab subnets', () => {
  it('no two files use the same lab octet', () => {
    const owners = new Map<number, Set<string>>();
    for (const file of [...sources(join(ROOT, 'test')), ...sources(join(ROOT, 'bench')), ...sources(join(ROOT, 'scripts'))]) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\b(?:octet|OCTET)\s*[:=]\s*(\d{1,3})\b/g)) {
        const octet = Number(m[1]);
        const set = owners.get(octet) ?? new Set<string>();
        set.add(relative(ROOT, file));
        owners.set(octet, set);
      }
    }
    expect(owners.size).toBeGreaterThan(10);
    const shared = [...owners].filter(([, files]) => files.size > 1).map(([octet, files]) => `${octet}: ${[...files].join(', ')}`);
    expect(shared).toEqual([]);
  });
});
