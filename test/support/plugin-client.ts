/** Calls the plugin over its unix socket the way Docker does: POST, JSON body, no Content-Type. */
import { request } from 'node:http';

export interface PluginReply {
  status: number;
  body: Record<string, unknown>;
}

export function callPlugin(socketPath: string, method: string, body?: unknown): Promise<PluginReply> {
  const payload = body === undefined ? '' : `${JSON.stringify(body)}\n`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method: 'POST',
        path: `/${method}`,
        headers: { Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch (err) {
            reject(new Error(`${method}: reply is not JSON: ${JSON.stringify(text)} (${String(err)})`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
