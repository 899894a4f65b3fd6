import { sanitize, sanitizeString } from '@/lib/log-sanitize';
import type { LogLevel } from '@/lib/security-logger';

/**
 * Process lifecycle lines (server_started, server_stopping, front_door_limits, …)
 * in the same one-JSON-object-per-line form as the security log, and a guard
 * that keeps every stdout line JSON even when a library prints plain text.
 */

export type LineSink = (line: string) => void;

/** Writes `{timestamp, level, event, message, ...fields}` as one line; fields are sanitized like the security log. */
export function createLifecycleLog(sink: LineSink = (line) => void process.stdout.write(line), now: () => number = Date.now) {
  return (level: LogLevel, event: string, message: string, fields: Record<string, unknown> = {}): void => {
    const entry = {
      timestamp: new Date(now()).toISOString(),
      level,
      event,
      message: sanitizeString(message),
      ...(sanitize(fields) as Record<string, unknown>),
    };
    try {
      sink(`${JSON.stringify(entry)}\n`);
    } catch {
      // Logging must never stop the server.
    }
  };
}

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/**
 * Wraps every stdout line that is not already a JSON object into one:
 * `{"timestamp","level":"info","event":"stdout_text","message":<the text>}`.
 * The loggers write whole `{"…` lines, which pass untouched without parsing;
 * anything else (Next's dev output, a dependency's console.log) is wrapped, so
 * `jq` on stdout never breaks. Returns a function that removes the guard.
 *
 * JSON lines are held until the end of the event loop's turn and written
 * together: a write to a pipe is a system call, and the two or three lines of
 * each request were about 0.1 ms of a token request's CPU in the end-to-end
 * bench's profile (bench/e2e.mjs). Order is kept (plain text flushes what is
 * held first), and what is held is written synchronously on exit, so a crash
 * loses nothing that was logged; a SIGKILL can lose one turn's lines.
 */
export function guardStdout(stream: NodeJS.WriteStream = process.stdout, now: () => number = Date.now): () => void {
  const original = stream.write;
  const write = original as unknown as (this: NodeJS.WriteStream, chunk: string, callback?: () => void) => boolean;
  let partial = '';
  let held = '';
  let heldCallbacks: Array<() => void> = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (held === '') return;
    const [out, callbacks] = [held, heldCallbacks];
    [held, heldCallbacks] = ['', []];
    write.call(stream, out, callbacks.length === 0 ? undefined : () => callbacks.forEach((done) => done()));
  };
  const wrap = (line: string) =>
    `${JSON.stringify({ timestamp: new Date(now()).toISOString(), level: 'info', event: 'stdout_text', message: sanitizeString(line.replace(ANSI, '')) })}\n`;
  const guarded = function (this: NodeJS.WriteStream, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    const done = typeof encoding === 'function' ? encoding : callback;
    if (partial === '' && text.startsWith('{"') && text.endsWith('}\n') && text.indexOf('\n') === text.length - 1) {
      held += text;
      if (typeof done === 'function') heldCallbacks.push(done as () => void);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      return true;
    }
    flush();
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    let out = '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      out += line.startsWith('{"') && line.endsWith('}') && isJson(line) ? `${line}\n` : wrap(line);
    }
    if (out === '') {
      if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
      return true;
    }
    return write.call(stream, out, done as (() => void) | undefined);
  };
  stream.write = guarded as NodeJS.WriteStream['write'];
  // A reader that goes away (EPIPE) must not take the server down with an
  // unhandled 'error' event; the lines have nowhere to go either way.
  const ignore = () => {};
  stream.on('error', ignore);
  process.on('exit', flush);
  return () => {
    stream.off('error', ignore);
    process.off('exit', flush);
    flush();
    if (partial.trim() !== '') write.call(stream, wrap(partial));
    partial = '';
    stream.write = original;
  };
}

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}
