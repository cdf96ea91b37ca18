/**
 * docs/operator-guide.md's shim recipe, run as written (the lab's parent link, subnet and names
 * in place of the document's): a container on a macvlan child of the host's interface cannot be
 * reached from the host, and can once the shim and its route exist.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { codeBlocks } from '../support/doc-commands.js';
import { createLab, type Container, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { run } from '../support/lab/shell.js';

const DOC = readFileSync(new URL('../../docs/operator-guide.md', import.meta.url), 'utf8');

function recipe(name: string): string {
  const rest = DOC.slice(DOC.indexOf(`<!-- recipe: ${name} -->`));
  const block = codeBlocks(rest, 'sh')[0];
  if (!DOC.includes(`<!-- recipe: ${name} -->`) || block === undefined) throw new Error(`docs/operator-guide.md has no sh recipe ${name}`);
  return block;
}

/** One ping from the host's root namespace; true when it is answered. */
const ping = (ip: string): Promise<boolean> =>
  run('busybox', ['ping', '-c', '1', '-W', '1', ip]).then(
    () => true,
    () => false,
  );

describeLab(
  'docs/operator-guide.md: the macvlan shim',
  () => {
    let lab: Lab;
    let container: Container;

    beforeAll(async () => {
      lab = await createLab({ name: 'shim', octet: 145 });
      container = await lab.addContainer('02:d4:45:00:00:96', lab.network(150));
    });

    afterAll(async () => {
      // The shim is named like the lab's container links, so the lab's clean-up removes it too.
      await lab?.destroy();
      await run('ip', ['link', 'del', 'shimc99']).catch(() => undefined);
    });

    it('reaches the container from the host only through the shim', async () => {
      // The container is on the "LAN": the server answers it.
      expect(
        await container.exec('busybox', ['ping', '-c', '1', '-W', '2', lab.serverIp]).then(
          () => true,
          () => false,
        ),
      ).toBe(true);
      expect(await ping(lab.network(150))).toBe(false);
      const prefix = lab.network(0).replace(/0$/, '');
      const script = recipe('shim').replaceAll('192.168.1.', prefix).replaceAll('d4d-shim', 'shimc99').replaceAll(' eth0 ', ` ${lab.hostIf} `);
      await run('sh', ['-e', '-c', script]);
      expect(await ping(lab.network(150))).toBe(true);
      // Everything else still goes out of the parent, as before.
      const route = await run('ip', ['route', 'get', lab.serverIp]);
      expect(route.stdout).toContain(`dev ${lab.hostIf}`);
    });
  },
  { requires: ['busybox'] },
);
