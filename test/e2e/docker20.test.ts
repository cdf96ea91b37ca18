/**
 * The Docker end-to-end suite on Docker 20.10 (Debian bookworm's docker.io),
 * started by the tests on its own socket and roots. What each part proves: the suites' own
 * comments; what passed on which engine: docs/engines.md.
 */
import { describeEngine } from '../support/docker-engines.js';
import { resultRecorder } from '../support/docker-results.js';
import { activationSuite } from './engine-activation.js';
import { basicSuite } from './engine-basic.js';
import { composeSuite } from './engine-compose.js';
import { networksSuite } from './engine-networks.js';
import { reconcileSuite } from './engine-reconcile.js';
import { zeroConfigSuite } from './engine-zero-config.js';

describeEngine('docker20', 'Docker 20.10 end to end', (engine) => {
  const rec = resultRecorder(new URL(import.meta.url).pathname, () => {
    try {
      return engine();
    } catch {
      return undefined;
    }
  });
  basicSuite(engine, rec);
  networksSuite(engine, rec);
  zeroConfigSuite(engine, rec);
  composeSuite(engine, rec);
  reconcileSuite(engine, rec);
  activationSuite(engine, rec);
});
