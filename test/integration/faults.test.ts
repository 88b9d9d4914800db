import { describe, expect, it } from "vitest";
import { bearer, callWith, freshPrincipalToken } from "../helpers/workers/auth";
import { DEMO_AUTH, expectProblem } from "../helpers/workers/http";

// Injected faults in RAG's dependencies (FAULT_EMBEDDER_*, FAULT_VECTOR_INDEX_*): what users get when the embedder
// or the vector index is down — docs/resilience.md#fault-injection.

let n = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${n++}`;

async function setUp() {
	const tenant = unique("faults");
	const auth = bearer(await freshPrincipalToken(`${tenant}-user`, tenant, ["rag:read", "rag:write", "chat"]));
	const index = unique("idx")
		.toLowerCase()
		.replace(/[^a-z0-9-]/g, "");
	const healthy = { RAG_INDEX_NAME: index };
	const ingest = await callWith(healthy, "/v1/documents", post(auth, { documents: [DOC] }));
	expect(ingest.status, await ingest.clone().text()).toBe(201);
	return { auth, healthy };
}

const DOC = {
	id: "runbook",
	title: "Rollback runbook",
	text: "When a canary fails its SLO, roll back with wrangler rollback.\n\nThe error ERR-4471 means the vector index rejected a write because the dimensions did not match.",
};

const post = (auth: Record<string, string>, body: unknown): RequestInit => ({
	method: "POST",
	headers: { ...auth, "Content-Type": "application/json" },
	body: JSON.stringify(body),
});

type Hit = { document_id: string; scores: { vector: number | null; keyword: number | null } };

for (const [dependency, variable] of [
	["embedder", "FAULT_EMBEDDER_RATE"],
	["vector index", "FAULT_VECTOR_INDEX_RATE"],
] as const) {
	describe(`the ${dependency} down (${variable}=1)`, () => {
		it("hybrid search degrades to keyword search and still finds the document", async () => {
			const { auth, healthy } = await setUp();
			const res = await callWith({ ...healthy, [variable]: "1" }, "/v1/rag/search", post(auth, { query: "ERR-4471" }));
			expect(res.status, await res.clone().text()).toBe(200);
			const hits = ((await res.json()) as { data: Hit[] }).data;
			expect(hits.map((h) => h.document_id)).toContain("runbook");
			// Keyword scores only: the vector side did not answer.
			expect(hits.every((h) => h.scores.vector === null && h.scores.keyword !== null)).toBe(true);
		});

		it("a grounded answer still cites the document", async () => {
			const { auth, healthy } = await setUp();
			const res = await callWith(
				{ ...healthy, [variable]: "1" },
				"/v1/rag/query",
				post(auth, { query: "What does ERR-4471 mean?" }),
			);
			expect(res.status, await res.clone().text()).toBe(200);
			const answer = (await res.json()) as { grounded: boolean; citations: { document_id: string }[] };
			expect(answer.grounded).toBe(true);
			expect(answer.citations.map((c) => c.document_id)).toContain("runbook");
		});

		it("vector-only search answers 503 with Retry-After, and an ingest is refused whole with 503", async () => {
			const { auth, healthy } = await setUp();
			const faulty = { ...healthy, [variable]: "1" };
			const vector = await callWith(faulty, "/v1/rag/search", post(auth, { query: "ERR-4471", mode: "vector" }));
			await expectProblem(vector, 503, "upstream-unavailable");
			expect(vector.headers.get("Retry-After")).not.toBeNull();
			const ingest = await callWith(
				faulty,
				"/v1/documents",
				post(auth, { documents: [{ id: "second", text: "Nothing of this may be half-written." }] }),
			);
			await expectProblem(ingest, 503, "upstream-unavailable");
			// Nothing half-written: the refused document does not exist once the dependency is back.
			const after = await callWith(healthy, "/v1/documents/second", { headers: auth });
			expect(after.status).toBe(404);
		});
	});
}

describe("fault injection is refused outside local and test", () => {
	it("answers 503 misconfigured naming each fault variable in staging", async () => {
		const res = await callWith(
			{
				ENVIRONMENT: "staging",
				JWT_SIGNING_SECRET: "a-staging-secret-that-is-long-enough-0123456789",
				FAULT_EMBEDDER_RATE: "0.5",
				FAULT_VECTOR_INDEX_LATENCY_MS: "100",
			},
			"/v1/rag/search",
			post({}, { query: "x" }),
		);
		const body = await expectProblem(res, 503, "misconfigured");
		const variables = (body.errors as { path: string }[]).map((e) => e.path);
		expect(variables).toEqual(expect.arrayContaining(["FAULT_EMBEDDER_RATE", "FAULT_VECTOR_INDEX_LATENCY_MS"]));
	});
});

describe("D1 down (FAULT_D1_RATE=1)", () => {
	const down = { FAULT_D1_RATE: "1" };

	it("an API-key caller gets 503 with Retry-After, never a 500 or a 401", async () => {
		const res = await callWith(down, "/v1/auth/me", { headers: DEMO_AUTH });
		const body = await expectProblem(res, 503, "upstream-unavailable");
		expect(body.detail).toBe("The database could not answer; retry shortly");
		expect(res.headers.get("Retry-After")).toBe("1");
	});

	it("RAG answers 503 for every route that needs the database, and readiness says not ready", async () => {
		const { auth } = await setUp();
		for (const [path, init] of [
			["/v1/rag/search", post(auth, { query: "ERR-4471" })],
			["/v1/documents", { headers: auth }],
			["/v1/documents", post(auth, { documents: [{ id: "x", text: "never half-written" }] })],
		] as const) {
			await expectProblem(await callWith(down, path, init), 503, "upstream-unavailable");
		}
		const ready = await callWith(down, "/readyz");
		expect(ready.status).toBe(503);
		// Back up: the refused ingest wrote nothing.
		expect((await callWith({}, "/v1/documents/x", { headers: auth })).status).toBe(404);
	});

	it("a slow database only slows: FAULT_D1_LATENCY_MS keeps answers correct", async () => {
		const { auth, healthy } = await setUp();
		const res = await callWith(
			{ ...healthy, FAULT_D1_LATENCY_MS: "50" },
			"/v1/rag/search",
			post(auth, { query: "ERR-4471", mode: "keyword" }),
		);
		expect(res.status).toBe(200);
		expect(((await res.json()) as { data: Hit[] }).data.map((h) => h.document_id)).toContain("runbook");
	});
});
