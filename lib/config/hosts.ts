/**
 * Loopback hosts: traffic to them never leaves the machine, so cleartext
 * there exposes nothing on a network. Everything else in production must use
 * TLS (lib/config/index.ts) or gets a warning (lib/config/warnings.ts).
 */

/** Whether a URL hostname (as `new URL().hostname` gives it) is loopback: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Whether `url` is https, or http to a loopback host. */
export function isTlsOrLoopback(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === 'https:' || isLoopbackHost(parsed.hostname);
}
