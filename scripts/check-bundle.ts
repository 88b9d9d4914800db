#!/usr/bin/env node
// Proves the production build bundles offline (`wrangler deploy --dry-run --env production`) and prints the
// Worker bundle's raw and gzip sizes, and what each npm package contributes (from esbuild's metafile: the bytes of
// its modules in the output, before minification's cross-module effects) — the figures docs/security.md#dependencies
// quotes. Exit code 1 when the dry run fails or the bundle exceeds BUNDLE_GZIP_MAX_KIB (default 1024 KiB: our own
// budget, well inside the Workers plans' compressed size limits).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { REPO_ROOT } from "./lib/repository-root.ts";

const outdir = mkdtempSync(path.join(tmpdir(), "edge-ai-api-bundle-"));
const limitKiB = Number(process.env.BUNDLE_GZIP_MAX_KIB ?? 1024);
try {
	const run = spawnSync(
		process.execPath,
		[
			path.join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
			"deploy",
			"--dry-run",
			"--env",
			"production",
			"--outdir",
			outdir,
			"--metafile",
			path.join(outdir, "meta.json"),
		],
		{
			cwd: REPO_ROOT,
			encoding: "utf8",
			env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
		},
	);
	if (run.status !== 0) {
		process.stderr.write(run.stdout + run.stderr);
		console.error("wrangler deploy --dry-run --env production failed");
		process.exit(1);
	}
	const meta = JSON.parse(readFileSync(path.join(outdir, "meta.json"), "utf8")) as {
		outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
	};
	const byPackage = new Map<string, number>();
	for (const output of Object.values(meta.outputs)) {
		for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
			const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
			const name = m?.[1] ?? "(this repository)";
			byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
		}
	}
	const files = readdirSync(outdir, { recursive: true })
		.map(String)
		.filter((f) => /\.(m?js|wasm)$/.test(f) && statSync(path.join(outdir, f)).isFile());
	let raw = 0;
	let gzip = 0;
	for (const f of files) {
		const bytes = readFileSync(path.join(outdir, f));
		raw += bytes.length;
		gzip += gzipSync(bytes, { level: 9 }).length;
	}
	const kib = (bytes: number) => (bytes / 1024).toFixed(1);
	console.log(
		`bundle (production dry run): ${files.length} module(s), ${kib(raw)} KiB raw, ${kib(gzip)} KiB gzip (limit ${limitKiB} KiB)`,
	);
	const rows = [...byPackage].sort((a, b) => b[1] - a[1]);
	console.log("bytes in the bundle by package (minified, before gzip):");
	for (const [name, bytes] of rows) console.log(`  ${name.padEnd(40)} ${kib(bytes).padStart(8)} KiB`);
	if (gzip > limitKiB * 1024) {
		console.error(`bundle exceeds ${limitKiB} KiB gzip`);
		process.exit(1);
	}
} finally {
	rmSync(outdir, { recursive: true, force: true });
}
