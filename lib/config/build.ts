/**
 * Facts fixed when Next compiles the app, not read at run time: Next replaces
 * `process.env.NODE_ENV` with a literal in every bundle it builds
 * ('development' under `next dev` or the front door's `--dev`, 'production'
 * after `next build`), so this cannot be changed by the running environment.
 */
export const DEV_BUILD = process.env.NODE_ENV === 'development';
