import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LocalEmbedder } from "../../src/adapters/local-embedder";
import { vectorIndexFor } from "../../src/composition";
import { loadConfig } from "../../src/config";
import type { RagDeps } from "../../src/rag/deps";
import { RagError } from "../../src/rag/errors";
import { namespaceOf } from "../../src/rag/indexing";
import { ingest as ingestDocuments } from "../../src/rag/ingest";
import { purgeExpiredIngests } from "../../src/rag/store";
import { ragProblem } from "../../src/routes/rag-problems";
import { createLogger } from "../../src/telemetry/logger";
import { bearer, callWith, freshPrincipalToken } from "../helpers/workers/auth";
import { expectProblem } from "../helpers/workers/http";

/**
 * Storage is bounded per request and per tenant (docs/rag.md#quotas): quotas on documents, chunks and stored bytes
 * are checked before any work and held inside the write's transaction, a refused write leaves nothing behind, and
 * idempotency records expire.
 */
let seq = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${seq++}`;

async function tenantAuth(label: string) {
	const tenant = unique(label);
	return {
		tenant,
		auth: bearer(await freshPrincipalToken(`${tenant}-u`, tenant, ["rag:read", "rag:write", "usage:read"])),
	};
}

function vars(extra: Record<string, string> = {}) {
	return { RAG_INDEX_NAME: unique("q").toLowerCase(), ...extra };
}

const ingest = (v: Record<string, string>, auth: Record<string, string>, documents: unknown[], key?: string) =>
	callWith(v, "/v1/documents", {
		method: "POST",
		headers: { ...auth, "Content-Type": "application/json", ...(key ? { "Idempotency-Key": key } : {}) },
		body: JSON.stringify({ documents }),
	});

const doc = (id: string, words = 40) => ({
	id,
	text: Array.from({ length: words }, (_, i) => `${id}word${i}`).join(" "),
});

/** What D1 actually holds for the tenant, counted from the rows (the oracle for tenant_storage). */
async function counted(tenant: string) {
	const row = await env.DB.prepare(
		`SELECT (SELECT count(*) FROM documents WHERE tenant = ?1) AS documents,
			(SELECT count(*) FROM chunks WHERE tenant = ?1) AS chunks,
			(SELECT coalesce(sum(stored_bytes), 0) FROM documents WHERE tenant = ?1)
				+ (SELECT coalesce(sum(stored_bytes), 0) FROM chunks WHERE tenant = ?1) AS bytes`,
	)
		.bind(tenant)
		.first<{ documents: number; chunks: number; bytes: number }>();
	return row;
}

async function storage(v: Record<string, string>, auth: Record<string, string>) {
	const res = await callWith(v, "/v1/usage/storage", { headers: auth });
	expect(res.status).toBe(200);
	return (await res.json()) as {
		documents: { used: number; limit: number };
		chunks: { used: number; limit: number };
		bytes: { used: number; limit: number };
	};
}

describe("per-tenant storage quotas", () => {
	it("refuses the document over the quota with 429 naming it, stores nothing of that batch, and frees room on delete", async () => {
		const v = vars({ RAG_TENANT_MAX_DOCUMENTS: "3" });
		const { tenant, auth } = await tenantAuth("qdocs");
		expect((await ingest(v, auth, [doc("a"), doc("b")])).status).toBe(201);
		const refused = await expectProblem(await ingest(v, auth, [doc("c"), doc("d")]), 429, "storage-quota-exceeded");
		expect(refused).toMatchObject({
			quota: "documents",
			quota_variable: "RAG_TENANT_MAX_DOCUMENTS",
			limit: 3,
			used: 2,
			requested: 2,
		});
		expect(await counted(tenant)).toMatchObject({ documents: 2 });
		// Replacing a document adds none: allowed at the quota.
		expect((await ingest(v, auth, [doc("c")])).status).toBe(201);
		expect((await ingest(v, auth, [{ ...doc("c"), text: "changed text" }])).status).toBe(201);
		await expectProblem(await ingest(v, auth, [doc("e")]), 429, "storage-quota-exceeded");
		expect((await callWith(v, "/v1/documents/a", { method: "DELETE", headers: auth })).status).toBe(204);
		expect((await ingest(v, auth, [doc("e")])).status).toBe(201);
		const s = await storage(v, auth);
		expect(s.documents).toEqual({ used: 3, limit: 3 });
		expect({ documents: s.documents.used, chunks: s.chunks.used, bytes: s.bytes.used }).toEqual(await counted(tenant));
	});

	it("answers 413 when the request alone is larger than a quota, and bounds chunks and bytes the same way", async () => {
		const { tenant, auth } = await tenantAuth("qbytes");
		const small = vars({ RAG_TENANT_MAX_DOCUMENTS: "1" });
		const alone = await expectProblem(await ingest(small, auth, [doc("x"), doc("y")]), 413, "content-too-large");
		expect(alone.quota).toBe("documents");
		const chunky = vars({ RAG_TENANT_MAX_CHUNKS: "2", RAG_CHUNK_CHARS: "200" });
		const tooManyChunks = await expectProblem(await ingest(chunky, auth, [doc("long", 200)]), 413, "content-too-large");
		expect(tooManyChunks.quota).toBe("chunks");
		const bytes = vars({ RAG_TENANT_MAX_BYTES: "15000" });
		expect((await ingest(bytes, auth, [doc("one", 10)])).status).toBe(201);
		const full = await expectProblem(
			await ingest(bytes, auth, [doc("two", 10), doc("three", 10)]),
			429,
			"storage-quota-exceeded",
		);
		expect(full.quota).toBe("bytes");
		expect(await counted(tenant)).toMatchObject({ documents: 1 });
	});

	it("holds under concurrent writes: the batch that would cross the quota aborts whole (trigger in the transaction)", async () => {
		const v = vars({ RAG_TENANT_MAX_DOCUMENTS: "4" });
		const { tenant, auth } = await tenantAuth("qrace");
		expect((await ingest(v, auth, [doc("base")])).status).toBe(201);
		// Five concurrent batches of two documents each: every one passes the pre-check (1 + 2 ≤ 4); at most one fits.
		const results = await Promise.all(
			Array.from({ length: 5 }, (_, i) => ingest(v, auth, [doc(`r${i}a`), doc(`r${i}b`)])),
		);
		const statuses = results.map((r) => r.status).sort();
		expect(statuses.filter((s) => s === 201).length).toBe(1);
		expect(statuses.filter((s) => s === 429).length).toBe(4);
		for (const r of results.filter((x) => x.status === 429)) {
			expect(((await r.json()) as { quota: string }).quota).toBe("documents");
		}
		const rows = await counted(tenant);
		expect(rows?.documents).toBe(3);
		// The totals the quotas read stay exactly what the rows add up to.
		const s = await storage(v, auth);
		expect({ documents: s.documents.used, chunks: s.chunks.used, bytes: s.bytes.used }).toEqual(rows);
	});

	it("judges a batch by where it ends: shrinking one document and growing another at the quota is allowed", async () => {
		const { tenant, auth } = await tenantAuth("qmix");
		const base = vars({ RAG_CHUNK_CHARS: "200", RAG_MIN_CHUNK_CHARS: "0" });
		// Document A: eight paragraphs of ~150 characters, one chunk each.
		const para = (k: string, i: number) => `${k}${i} ${"lorem ipsum dolor sit amet ".repeat(5)}`.trim();
		const long = (k: string, n: number) => Array.from({ length: n }, (_, i) => para(k, i)).join("\n\n");
		expect((await ingest(base, auth, [{ id: "a", text: long("a", 8) }])).status).toBe(201);
		const before = (await counted(tenant))?.chunks ?? 0;
		// Quota: what is stored now + 2. The batch grows B by 4 chunks (listed first) and shrinks A by 6: net −2.
		const v = { ...base, RAG_TENANT_MAX_CHUNKS: String(before + 2) };
		const res = await ingest(v, auth, [
			{ id: "b", text: long("b", 4) },
			{ id: "a", text: long("a", 2) },
		]);
		expect(res.status, await res.clone().text()).toBe(201);
		expect((await counted(tenant))?.chunks).toBe(before - 2);
	});

	it("a replacement whose D1 batch fails leaves the live document whole, vectors included", async () => {
		// Through the service, with a D1 whose batch fails once: what a quota raced away by another write does.
		const loaded = loadConfig({
			...env,
			RAG_CHUNK_CHARS: "200",
			RAG_MIN_CHUNK_CHARS: "0",
			RAG_INDEX_NAME: unique("keep"),
		});
		if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
		const config = loaded.config.rag;
		const embedder = new LocalEmbedder();
		const index = vectorIndexFor(env, config, embedder);
		const pending: Promise<unknown>[] = [];
		let failNextBatch = false;
		const db = new Proxy(env.DB, {
			get(target, prop) {
				if (prop === "batch") {
					return async (statements: D1PreparedStatement[]) => {
						if (failNextBatch) {
							failNextBatch = false;
							throw new Error("D1_ERROR: tenant quota exceeded: chunks: SQLITE_CONSTRAINT");
						}
						return target.batch(statements);
					};
				}
				const value = Reflect.get(target, prop);
				return typeof value === "function" ? value.bind(target) : value;
			},
		});
		const deps: RagDeps = {
			db,
			index,
			embedder,
			config,
			tenant: unique("keep-tenant"),
			log: createLogger({ level: "error", base: {} }),
			now: () => Date.now(),
			defer: (p) => void pending.push(p),
		};
		const paras = Array.from({ length: 6 }, (_, i) => `zeta${i} ${"quorum lattice vortex ".repeat(6)}`.trim());
		await ingestDocuments(deps, [{ id: "live", text: paras.join("\n\n") }], null);
		const vectorIds = async () => {
			const [q] = await embedder.embed(["quorum lattice vortex zeta0"]);
			const r = await index.query(q ?? [], { topK: 50, namespace: await namespaceOf(deps.tenant) });
			return r.matches.map((m) => m.id).sort();
		};
		const live = await vectorIds();
		expect(live).toHaveLength(6);
		// The same six paragraphs (same chunk ids) plus six more: vectors written, then the batch fails.
		const grown = [...paras, ...Array.from({ length: 6 }, (_, i) => `extra${i} ${"filler words here ".repeat(6)}`)];
		failNextBatch = true;
		// The domain names the quota the trigger refused; the routes make it a 429 storage-quota-exceeded.
		const refused = ingestDocuments(deps, [{ id: "live", text: grown.join("\n\n") }], null);
		await expect(refused).rejects.toBeInstanceOf(RagError);
		await expect(refused).rejects.toMatchObject({ reason: { code: "quota-exceeded", quota: "chunks" } });
		const problem = ragProblem((await refused.catch((e: unknown) => e)) as RagError);
		expect([problem.status, problem.slug]).toEqual([429, "storage-quota-exceeded"]);
		await Promise.all(pending);
		// The six live chunks keep their vectors; only the six new ones were removed.
		expect(await vectorIds()).toEqual(live);
	});

	it("reports one stored_bytes for a document everywhere: ingest, re-ingest unchanged, GET, and the tenant's total", async () => {
		const v = vars();
		const { tenant, auth } = await tenantAuth("qbytes1");
		const first = (await (await ingest(v, auth, [doc("s", 120)])).json()) as { data: { stored_bytes: number }[] };
		const again = (await (await ingest(v, auth, [doc("s", 120)])).json()) as {
			data: { status: string; stored_bytes: number }[];
		};
		expect(again.data[0]?.status).toBe("unchanged");
		expect(again.data[0]?.stored_bytes).toBe(first.data[0]?.stored_bytes);
		const shown = (await (await callWith(v, "/v1/documents/s", { headers: auth })).json()) as { stored_bytes: number };
		expect(shown.stored_bytes).toBe(first.data[0]?.stored_bytes);
		expect((await counted(tenant))?.bytes).toBe(first.data[0]?.stored_bytes);
	});

	it("keeps one tenant's quota from touching another's", async () => {
		const v = vars({ RAG_TENANT_MAX_DOCUMENTS: "1" });
		const a = await tenantAuth("qa");
		const b = await tenantAuth("qb");
		expect((await ingest(v, a.auth, [doc("a1")])).status).toBe(201);
		expect((await ingest(v, b.auth, [doc("b1")])).status).toBe(201);
		await expectProblem(await ingest(v, a.auth, [doc("a2")]), 429, "storage-quota-exceeded");
		expect((await storage(v, b.auth)).documents.used).toBe(1);
	});
});

describe("what one ingest stores is bounded", () => {
	it("caps heading paths and metadata, and never gives a tiny section a chunk of its own", async () => {
		const v = vars({ RAG_MAX_HEADING_CHARS: "64", RAG_MAX_METADATA_BYTES: "256" });
		const { tenant, auth } = await tenantAuth("bounds");
		const hugeHeading = "H".repeat(5_000);
		const tiny = Array.from({ length: 200 }, (_, i) => `## s${i}\n\nx`).join("\n\n");
		const text = `# ${hugeHeading}\n\n${"alpha beta gamma delta. ".repeat(200)}\n\n${tiny}`;
		const res = await ingest(v, auth, [{ id: "d", title: "T".repeat(500), text }]);
		expect(res.status).toBe(201);
		const body = (await res.json()) as { data: { chunks: number; stored_bytes: number }[] };
		const chunks = (await (await callWith(v, "/v1/documents/d/chunks", { headers: auth })).json()) as {
			data: { heading: string; text: string }[];
		};
		expect(chunks.data.every((c) => c.heading.length <= 64)).toBe(true);
		// 200 one-character sections do not make 200 chunks: they pack into chunks of at least RAG_MIN_CHUNK_CHARS.
		expect(chunks.data.length).toBe(body.data[0]?.chunks);
		expect(chunks.data.length).toBeLessThan(20);
		// What is stored is what the response says, and what the tenant's totals hold.
		expect(body.data[0]?.stored_bytes).toBe((await counted(tenant))?.bytes);
		const fat = await expectProblem(
			await ingest(v, auth, [{ id: "m", text: "x", metadata: { a: "y".repeat(300) } }]),
			413,
			"content-too-large",
		);
		expect(fat.errors?.[0]?.path).toBe("documents.0.metadata");
	});
});

describe("idempotency records expire", () => {
	it("replays within IDEMPOTENCY_TTL_S, not after; expired records are purged by the next ingest and by the cron sweep", async () => {
		const v = vars({ IDEMPOTENCY_TTL_S: "60" });
		const { tenant, auth } = await tenantAuth("idem");
		expect((await ingest(v, auth, [doc("i")], "key-1")).status).toBe(201);
		const replay = await ingest(v, auth, [doc("i")], "key-1");
		expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
		// Age the record past the TTL.
		await env.DB.prepare("UPDATE ingest_requests SET created_at = created_at - 120000 WHERE tenant = ?")
			.bind(tenant)
			.run();
		const after = await ingest(v, auth, [{ ...doc("i"), text: "a different body under the old key" }], "key-1");
		expect(after.status).toBe(201);
		expect(after.headers.get("Idempotent-Replayed")).toBeNull();
		const rows = await env.DB.prepare("SELECT created_at FROM ingest_requests WHERE tenant = ?").bind(tenant).all();
		expect(rows.results).toHaveLength(1);
		expect(Number((rows.results[0] as { created_at: number }).created_at)).toBeGreaterThan(Date.now() - 60_000);
		// The cron's sweep removes what is older than the TTL, for every tenant.
		await env.DB.prepare("UPDATE ingest_requests SET created_at = 0 WHERE tenant = ?").bind(tenant).run();
		expect(await purgeExpiredIngests(env.DB, Date.now() - 60_000)).toBeGreaterThanOrEqual(1);
		const left = await env.DB.prepare("SELECT count(*) AS n FROM ingest_requests WHERE tenant = ?")
			.bind(tenant)
			.first<{ n: number }>();
		expect(left?.n).toBe(0);
	});
});
