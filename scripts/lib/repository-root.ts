// The one way scripts and Node-side tests find the repository: every path they read, write or run is relative to it.
import path from "node:path";

/** Absolute path of the repository's root directory (this file is `scripts/lib/repository-root.ts`). */
export const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");
