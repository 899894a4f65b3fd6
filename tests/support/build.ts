import { CHECKOUT, ensurePrivateBuild } from '../../scripts/private-build.mjs';

/** This checkout. */
export const PROJECT_ROOT = CHECKOUT;

/**
 * Returns the folder of a production build of the current sources, private
 * to this checkout (scripts/private-build.mjs): built once per source state
 * with the project's own `npm run build`, then reused. Tests run their
 * servers from it, so a running test server never sees its .next rewritten
 * by another build.
 */
export function ensureBuild(): Promise<string> {
  return ensurePrivateBuild({ name: 'rtg-e2e-build' });
}
