/**
 * A process that holds a UDP port in a network namespace without SO_REUSEADDR, as a DHCP client
 * built without it holds 68: nobody else can bind the port while it runs (those that set
 * SO_REUSEADDR included). Stands in for such a client where its own behaviour does not matter.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface PortHolder {
  readonly pid: number;
  /** SIGKILL it and wait for the exit. */
  stop(): Promise<void>;
}

/** Starts the holder of `port` (on 0.0.0.0) in `netns`; resolves once it is bound. */
export async function holdUdpPort(netns: string, port: number): Promise<PortHolder> {
  // A plain node dgram socket: reuseAddr is off unless asked for.
  const script = `const s=require('dgram').createSocket('udp4');s.bind(${port},'0.0.0.0',()=>console.log('bound'));`;
  const child: ChildProcess = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    void exited.then(() => reject(new Error(`the holder of UDP ${port} in ${netns} exited: ${err}`)));
  });
  if (child.pid === undefined) throw new Error('the port holder has no pid');
  return {
    pid: child.pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
