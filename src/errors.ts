/**
 * Base class of every error the daemon raises on purpose.
 *
 * `code` is a stable string a caller (or the Docker API edge) can branch on; `message` is written
 * for an operator and states the rule that was broken, with what we got and what we wanted.
 */
export abstract class DaemonError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
