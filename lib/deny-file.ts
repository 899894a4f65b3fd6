import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ConfigError, type AppConfig } from './config';
import { compileDenyList, parseDenyEntry, type DenyEntry, type DenyList } from './deny';
import { traceIdFrom, type SecurityLogger } from './security-logger';

/**
 * The deny list in force: `DENY_USERS` and `DENY_IPS` from the environment,
 * plus `DENY_LIST_FILE` (one entry per line, `#` comments), re-read on SIGHUP.
 * A reload builds the new list aside and swaps one reference, so requests in
 * flight keep the list they started with and none is dropped; a file that
 * cannot be read or has a bad line keeps the previous list, and says so in the log.
 */
export interface DenyLists {
  /** The list in force right now. */
  current(): DenyList;
  /** Re-reads the file (what SIGHUP does); resolves true when the new list is in force. */
  reload(): Promise<boolean>;
  /** Removes the SIGHUP listener. */
  close(): void;
}

const MAX_FILE_BYTES = 4 * 1024 * 1024;

/** Entries of one file's text, or the first problem (a line number, never its content). */
export function parseDenyFile(text: string): { entries: DenyEntry[] } | { problem: string } {
  if (text.length > MAX_FILE_BYTES) return { problem: `file is larger than ${MAX_FILE_BYTES} bytes` };
  const entries: DenyEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const entry = parseDenyEntry(line);
    if (entry === undefined) return { problem: `line ${i + 1} is neither a user id (clerk:…, jwt:…) nor an IP address or CIDR` };
    entries.push(entry);
  }
  return { entries };
}

/**
 * Builds the deny list of `config`; with a file, reads it now (a bad file stops
 * the start with a {@link ConfigError}) and registers one SIGHUP listener.
 */
export function createDenyLists(config: Pick<AppConfig, 'deny'>, logger: SecurityLogger): DenyLists {
  const { entries, file } = config.deny;
  let list = compileDenyList(entries);
  if (file === undefined) return { current: () => list, reload: async () => true, close: () => {} };

  const initial = readNow(file);
  if ('problem' in initial) throw new ConfigError(['DENY_LIST_FILE'], `Invalid configuration: DENY_LIST_FILE ${initial.problem}`);
  list = compileDenyList([...entries, ...initial.entries]);

  let pending: Promise<boolean> = Promise.resolve(true);
  const log = (level: 'info' | 'error', event: 'deny_list_reloaded' | 'config_error', message: string, metadata: Record<string, unknown>) =>
    logger.log(level, event, message, { traceId: traceIdFrom(null) }, metadata);
  const reloadOnce = async (): Promise<boolean> => {
    const parsed = await readLater(file);
    if ('problem' in parsed) {
      log('error', 'config_error', 'DENY_LIST_FILE could not be reloaded; the previous deny list stays in force', { reason: parsed.problem });
      return false;
    }
    list = compileDenyList([...entries, ...parsed.entries]);
    log('info', 'deny_list_reloaded', 'Deny list reloaded', { entries: list.size, users: list.users.size });
    return true;
  };
  // Reloads run one after another, so an older read can never replace a newer list.
  const reload = () => (pending = pending.then(reloadOnce, reloadOnce));
  const onSignal = () => void reload();
  process.on('SIGHUP', onSignal);
  return { current: () => list, reload, close: () => void process.off('SIGHUP', onSignal) };
}

type Parsed = ReturnType<typeof parseDenyFile>;

const unreadable = (error: unknown): Parsed => ({ problem: `could not be read (${(error as NodeJS.ErrnoException | null)?.code ?? 'error'})` });

function readNow(path: string): Parsed {
  try {
    return parseDenyFile(readFileSync(path, 'utf8'));
  } catch (error) {
    return unreadable(error);
  }
}

async function readLater(path: string): Promise<Parsed> {
  return readFile(path, 'utf8').then(parseDenyFile, unreadable);
}
