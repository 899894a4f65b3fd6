import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { ROOT } from '../lib-loader.mjs';
import { checkBehaviour, checkFiles, checkGuardList, checkRateLimitDefaults, loadServer } from './code.mjs';
import { checkEnvExample, checkEnvironment, isSensitive, readEnvironment } from './env.mjs';

export const USAGE = 'usage: node scripts/validate-security.js [--env-file PATH | --example-env] [--production] [--root DIR] [--json]';

export class UsageError extends Error {}

export function parseArgs(argv) {
  const opts = { root: ROOT, envFile: undefined, exampleEnv: false, production: false, json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith('--') && argv[i].includes('=') ? argv[i].split(/=(.*)/s) : [argv[i], undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--root') opts.root = resolve(value());
    else if (flag === '--env-file') opts.envFile = resolve(value());
    else if (flag === '--example-env') opts.exampleEnv = true;
    else if (flag === '--production') opts.production = true;
    else if (flag === '--json') opts.json = true;
    else if (flag === '--help' || flag === '-h') opts.help = true;
    else throw new UsageError(`unknown option ${flag}`);
  }
  if (opts.envFile && opts.exampleEnv) throw new UsageError('use --env-file or --example-env, not both');
  if (!existsSync(opts.root)) throw new UsageError(`--root ${opts.root} does not exist`);
  if (opts.envFile && !existsSync(opts.envFile)) throw new UsageError(`cannot read --env-file ${opts.envFile}`);
  return opts;
}

/**
 * Runs every check; returns the results in report order.
 * opts: { root, env?, envFile?, exampleEnv?, production?, server? } (`env` replaces process.env;
 * `server`, already loaded modules, replaces compiling them from `root`)
 */
export async function validate(opts) {
  const read = readEnvironment(opts);
  const results = [checkFiles(opts.root)];
  let server;
  try {
    server = opts.server ?? (await loadServer(opts.root));
  } catch (error) {
    // A compile error means the server would not build either; nothing below can run.
    results.push({ check: 'load', ok: false, reason: `the server's modules do not compile or load: ${firstProblem(error, opts.root)}` });
  }
  if (server) {
    // A check that throws (a guard factory failing on a valid config, say) fails, naming the error.
    const attempt = async (check, run) => {
      try {
        return [await run()].flat();
      } catch (error) {
        return [{ check, ok: false, reason: `the check threw ${firstProblem(error, opts.root)}` }];
      }
    };
    results.push(...(await attempt('route-guards', () => checkGuardList(server))), ...(await attempt('rate-limits', () => checkRateLimitDefaults(server))));
    results.push(...(await attempt('guards', () => checkBehaviour(server))), ...read.results);
    results.push(...checkEnvironment(server, read.env, { production: read.production, testValues: opts.exampleEnv }), checkEnvExample(server, opts.root));
  }
  return { results: results.map((r) => ({ ...r, reason: redact(r.reason, read.env) })), label: read.label, production: read.production };
}

/** The compiler's first message and where, without colours (vite prints them framed over many lines). */
function firstProblem(error, root) {
  const text = String(error?.message ?? error).replace(/\x1b\[[0-9;]*m/g, '');
  const [first = 'unknown error'] = text.split('\n').map((l) => l.trim()).filter((l) => l && !/^Build failed/.test(l));
  const where = /([\w.@/-]+\.[cm]?[jt]sx?):(\d+):(\d+)/.exec(text);
  return where ? `${first} at ${relative(root, resolve(where[1]))}:${where[2]}:${where[3]}` : first;
}

/** Belt and braces: no check prints values, but any sensitive value that slipped into a reason is masked. */
function redact(text, env) {
  let out = text;
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === 'string' && value.trim().length >= 4 && isSensitive(name, value)) out = out.split(value.trim()).join(`[${name}]`);
  }
  return out;
}

/** The CLI: prints ✓/✗/⚠ lines (or JSON) and returns the exit code: 1 on any ✗, 2 on a usage error. */
export async function main(argv, print = console.log, printError = console.error) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(`validate-security: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    print(USAGE);
    return 0;
  }
  const { results, label, production } = await validate(opts);
  const failed = results.filter((r) => !r.ok);
  const warned = results.filter((r) => r.warning);
  if (opts.json) {
    print(JSON.stringify(results, null, 2));
  } else {
    print(`Security validation of ${opts.root}`);
    print(`Environment: ${label}; ${production ? 'production' : 'non-production'} rules`);
    for (const r of results) print(`${r.warning ? '⚠' : r.ok ? '✓' : '✗'} ${r.check} — ${r.reason}`);
    const notes = warned.length ? ` (${warned.length} warning${warned.length > 1 ? 's' : ''})` : '';
    print(failed.length ? `✗ ${failed.length} of ${results.length} checks failed${notes}` : `✓ all ${results.length} checks passed${notes}`);
  }
  return failed.length ? 1 : 0;
}
