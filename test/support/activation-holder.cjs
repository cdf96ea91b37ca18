/**
 * systemd's side of socket activation across restarts, for the tests. `systemd-socket-activate`
 * (systemd's own tool) binds the plugin socket and execs this holder with it as fd 3; the holder
 * keeps it open and, as systemd does at each start of the service, runs the daemon with that
 * socket as fd 3 and LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES set.
 *
 * argv: the daemon's command line. stdin lines: `start`, `stop` (SIGTERM, then wait). stdout
 * lines: `started <pid>`, `exited <code|signal>`. The daemon's output goes to stderr. At the end
 * of stdin a running daemon is stopped and the holder exits.
 */
const { spawn } = require('node:child_process');
const { createInterface } = require('node:readline');

const argv = process.argv.slice(2);
const fdName = process.env.LISTEN_FDNAMES ?? 'oam-docker-ipam.socket';
for (const key of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) delete process.env[key];

let child;
let exited;

function start() {
  if (child !== undefined) return console.log('error already running');
  // LISTEN_PID is the daemon's own pid: `exec` keeps the shell's.
  child = spawn('sh', ['-c', 'LISTEN_PID=$$ exec "$@"', 'sh', ...argv], {
    stdio: ['ignore', 2, 2, 3],
    env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: fdName },
  });
  exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      child = undefined;
      console.log(`exited ${code ?? signal}`);
      resolve();
    }),
  );
  console.log(`started ${child.pid}`);
}

async function stop() {
  if (child === undefined) return;
  child.kill('SIGTERM');
  await exited;
}

let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  queue = queue.then(() => (line === 'start' ? start() : line === 'stop' ? stop() : console.log(`error unknown command ${line}`)));
});
lines.on('close', () => {
  queue = queue.then(stop).then(() => process.exit(0));
});
