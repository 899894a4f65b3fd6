/** Small statistics and formatting helpers shared by the benchmark parts. */

/** The q-quantile (0..1) of `values` by nearest rank; sorts a copy. */
export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export const median = (values) => quantile(values, 0.5);

/** Rounds to `digits` significant digits (keeps results.json readable). */
export function round(value, digits = 4) {
  if (!Number.isFinite(value) || value === 0) return value;
  const scale = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(value))));
  return Math.round(value * scale) / scale;
}

/** Elapsed milliseconds since an `hrtime.bigint()` reading. */
export const msSince = (start) => Number(process.hrtime.bigint() - start) / 1e6;

/** A deterministic PRNG (mulberry32), so key orders are the same on every run. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** In-place Fisher–Yates shuffle with a seeded PRNG. */
export function shuffle(array, seed = 42) {
  const random = prng(seed);
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [array[i], array[j]] = [array[j], array[i]];
  }
  return array;
}

/** `n` distinct IPv4-looking client keys (10.0.0.0/8), in a shuffled order. */
export function distinctKeys(n, seed = 42) {
  const keys = new Array(n);
  for (let i = 0; i < n; i++) keys[i] = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
  return shuffle(keys, seed);
}

/** Full collection before a measurement, when the process runs with --expose-gc. */
export function collect() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
}

const fmtNumber = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** 1234567 → "1,234,567"; small values keep up to 3 decimals. */
export function fmt(value, decimals) {
  if (typeof value !== 'number') return String(value ?? '');
  if (!Number.isFinite(value)) return String(value);
  if (decimals !== undefined) return value.toFixed(decimals);
  if (Math.abs(value) >= 100) return fmtNumber.format(value);
  return String(round(value, 3));
}

/** Renders rows (arrays of cells) as an aligned text table; text columns (`left`, and the first) align left. */
export function table(title, header, rows, left = []) {
  const cells = [header, ...rows].map((r) => r.map((c) => String(c)));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r) => r.map((c, i) => (i === 0 || left.includes(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [`\n${title}`, line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}
