import type { TestProject } from 'vitest/node';
import { ensurePrivateBuild } from '../../scripts/private-build.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The private production build this run's servers start from (scripts/private-build.mjs). */
    buildDir: string;
  }
}

/**
 * globalSetup of the projects that start production servers: the build is
 * made (or found) once, before any test file runs and outside every test's
 * timeout, and handed to the workers with provide/inject.
 */
export default async function setup(project: TestProject): Promise<void> {
  project.provide('buildDir', await ensurePrivateBuild({ name: 'rtg-e2e-build', say: (line) => console.log(line) }));
}
