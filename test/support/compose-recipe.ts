/**
 * The user's Compose recipe (docs/compose.yaml), run as it is by the end-to-end suite and by
 * bench:docker-run, with only its image swapped: no image can be pulled here.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TEST_IMAGE } from './docker-engines.js';

export const COMPOSE_RECIPE = new URL('../../docs/compose.yaml', import.meta.url).pathname;

/** Writes a Compose override into `dir` that runs the recipe's `web` on the local test image; returns its path. */
export async function writeTestImageOverride(dir: string): Promise<string> {
  const path = join(dir, 'test-image.yaml');
  await writeFile(path, `services:\n  web:\n    image: ${TEST_IMAGE}\n    command: ["sleep", "3600"]\n`);
  return path;
}
