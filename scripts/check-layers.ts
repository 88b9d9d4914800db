/**
 * `npm run check:layers`: the import rules of docs/architecture.md, checked over `src/` and `durable-objects/`.
 *
 * - Every module belongs to a layer; a module imports only from its own layer or the ones below it
 *   (composition root → routes → app env → middleware → Durable Objects → adapters → domain → base), never from
 *   above.
 * - `src/` never imports `durable-objects/` (the objects implement contracts that live in `src/`), except the
 *   composition root, which re-exports the classes for the runtime; the objects may import the domain below them.
 * - Adapters are imported only by the composition root (which chooses them) and other adapters; everyone else
 *   receives them as ports. Their contracts (`*-contract.ts`) are open to the layers above them.
 * - No import cycles, type-only imports included (a cycle of types is still two modules that cannot be read apart).
 *
 * Imports are read as text (`import … from`, `export … from`, `import("…")` in types), which is exact for this
 * code base: every relative specifier is a literal.
 *
 * Exit status 1 with one line per violation; `--graph` prints the module graph as `from -> to` lines.
 *
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parseCommandLine } from "./lib/command-line.ts";
import { REPO_ROOT } from "./lib/repository-root.ts";

/** Layers from the bottom; a module may import its own layer and those before it. */
const LAYERS = [
	{ name: "base", match: (f: string) => /^src\/(http|ports|lib)\//.test(f) },
	{
		name: "domain",
		match: (f: string) => /^src\/(auth|chat|config|rag|rate-limit|slo|telemetry|usage|db|health)\//.test(f),
	},
	{ name: "adapters", match: (f: string) => f.startsWith("src/adapters/") },
	{ name: "durable-objects", match: (f: string) => f.startsWith("durable-objects/") },
	{ name: "middleware", match: (f: string) => f.startsWith("src/middleware/") },
	// The app's context type, composed from the variables each middleware exports; routes type themselves with it.
	{ name: "app env", match: (f: string) => f === "src/app-env.ts" },
	{ name: "routes", match: (f: string) => f.startsWith("src/routes/") },
	{
		name: "composition root",
		match: (f: string) => ["src/app.ts", "src/index.ts", "src/composition.ts"].includes(f),
	},
] as const;

/** Which layers may reach `durable-objects/` (the objects themselves, and the root that exports them). */
const MAY_IMPORT_OBJECTS = new Set(["durable-objects", "composition root"]);

/**
 * Which layers may import an adapter (an implementation of a port): the composition root, which chooses them, and
 * other adapters. Anyone at or above the adapters may import an adapter's contract (`*-contract.ts`, e.g. the RPC
 * interface the local vector index object implements). Routes and middleware get adapters as ports from the
 * context, never by importing them.
 */
const MAY_IMPORT_ADAPTERS = new Set(["adapters", "composition root"]);
const isAdapter = (f: string) => f.startsWith("src/adapters/") && !f.endsWith("-contract.ts");

function layerOf(file: string): number {
	const i = LAYERS.findIndex((l) => l.match(file));
	if (i < 0) throw new Error(`${file} belongs to no layer: add it to LAYERS in scripts/check-layers.ts`);
	return i;
}

function sources(dir: string): string[] {
	const out: string[] = [];
	for (const name of readdirSync(path.join(REPO_ROOT, dir))) {
		const rel = `${dir}/${name}`;
		if (statSync(path.join(REPO_ROOT, rel)).isDirectory()) out.push(...sources(rel));
		else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(rel);
	}
	return out;
}

const SPECIFIERS = [
	/\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s+["']([^"']+)["']/g,
	/\bimport\s+["']([^"']+)["']/g,
	/\bimport\(\s*["']([^"']+)["']\s*\)/g,
];

/** The repository files a module imports (relative specifiers only; packages are outside the rules). */
function importsOf(file: string, known: Set<string>): string[] {
	const text = readFileSync(path.join(REPO_ROOT, file), "utf8");
	const targets = new Set<string>();
	for (const pattern of SPECIFIERS) {
		for (const m of text.matchAll(pattern)) {
			const spec = m[1] as string;
			if (!spec.startsWith(".")) continue;
			const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.(js|ts)$/, "");
			const hit = [`${base}.ts`, `${base}/index.ts`].find((c) => known.has(c));
			if (hit) targets.add(hit);
		}
	}
	return [...targets];
}

/** Every elementary cycle's first appearance, found by depth-first search (Tarjan would be overkill here). */
function cyclesOf(graph: Map<string, string[]>): string[][] {
	const cycles: string[][] = [];
	const seen = new Set<string>();
	const state = new Map<string, "open" | "done">();
	const stack: string[] = [];
	const visit = (node: string) => {
		state.set(node, "open");
		stack.push(node);
		for (const next of graph.get(node) ?? []) {
			if (state.get(next) === "open") {
				const cycle = stack.slice(stack.indexOf(next));
				const key = [...cycle].sort().join(" ");
				if (!seen.has(key)) {
					seen.add(key);
					cycles.push([...cycle, next]);
				}
			} else if (!state.has(next)) visit(next);
		}
		stack.pop();
		state.set(node, "done");
	};
	for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
	return cycles;
}

const { values } = parseCommandLine("usage: npm run check:layers [-- --graph]", {
	options: { graph: { type: "boolean", default: false } },
});
const files = [...sources("src"), ...sources("durable-objects")].sort();
const known = new Set(files);
const graph = new Map(files.map((f) => [f, importsOf(f, known)]));

if (values.graph) {
	for (const [from, tos] of graph) for (const to of tos) console.log(`${from} -> ${to}`);
	process.exit(0);
}

const problems: string[] = [];
for (const [from, tos] of graph) {
	const fromLayer = layerOf(from);
	for (const to of tos) {
		const toLayer = layerOf(to);
		const fromName = LAYERS[fromLayer]?.name ?? "";
		if (to.startsWith("durable-objects/") && !MAY_IMPORT_OBJECTS.has(fromName)) {
			problems.push(`${from} imports ${to}: import the object's contract from src/ instead`);
		} else if (toLayer > fromLayer) {
			problems.push(`${from} (${fromName}) imports ${to} (${LAYERS[toLayer]?.name}), a higher layer`);
		} else if (isAdapter(to) && !MAY_IMPORT_ADAPTERS.has(fromName)) {
			problems.push(`${from} (${fromName}) imports the adapter ${to}: take it as a port (src/composition.ts chooses)`);
		}
	}
}
for (const cycle of cyclesOf(graph)) problems.push(`import cycle: ${cycle.join(" -> ")}`);

if (problems.length > 0) {
	for (const p of problems) console.error(p);
	console.error(`\n${problems.length} layering problem(s) (docs/architecture.md#layers)`);
	process.exit(1);
}
console.log(
	`layers: ${files.length} modules, ${[...graph.values()].flat().length} imports, no upward import, no cycle`,
);
