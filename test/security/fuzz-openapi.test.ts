import { randomInt } from "node:crypto";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../helpers/node/dev-server";
import { describe as describeViolation, OperationStats, summarize, table } from "./helpers/fuzz-report";
import { listOperations, type OpenApiDocument, type Operation, oauthScopes } from "./helpers/openapi-operations";
import { send, type WireFailure, type WireResponse } from "./helpers/raw-http";
import { type FuzzRequest, type RequestContext, requestArbitrary } from "./helpers/request-arbitrary";
import { check } from "./helpers/response-checks";
import { createFixture, type FuzzFixture } from "./helpers/tenant-fixture";

/**
 * Property-based fuzzing of the real service (`wrangler dev`, as `npm start` runs it, rate limits off) from its own
 * /openapi.json: every operation gets valid and hostile requests (path, query, headers, credentials, bodies from
 * its schemas and mutated, raw bytes, other methods), and every answer must be 2xx or a problem+json 4xx, carry no
 * stack trace, and never contain tenant B's data or credentials (the requests are tenant A's, or the admin's).
 *
 * Environment: FUZZ_RUNS (requests per operation, default 60), FUZZ_SEED (an integer, or `random`; default fixed,
 * printed for replay), FUZZ_OPS (a regex of operation keys, e.g. `^POST /v1/chat`), FUZZ_TIMEOUT_MS (per request,
 * default 15000), FUZZ_MIN_HANDLED (share of requests an operation's handler must answer, default 0.1).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const SEED = process.env.FUZZ_SEED === "random" ? randomInt(2 ** 31) : Number(process.env.FUZZ_SEED ?? 20_261_203);
const TIMEOUT_MS = Number(process.env.FUZZ_TIMEOUT_MS ?? 15_000);
const MIN_HANDLED = Number(process.env.FUZZ_MIN_HANDLED ?? 0.1);
const ONLY = process.env.FUZZ_OPS ? new RegExp(process.env.FUZZ_OPS) : undefined;
const ADMIN_CLIENT = { clientId: "admin", secret: "admin-secret" };

/** A per-operation seed: adding an operation, or running one alone, leaves the others' requests unchanged. */
function seedFor(op: Operation): number {
	let h = 0x811c9dc5;
	for (const ch of op.key) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
	return (SEED ^ h) | 0;
}

const isAdmin = (op: Operation) => op.tags.includes("Admin");

let server: DevServer;
let operations: Operation[] = [];
let allOperations: Operation[] = [];
let fixture: FuzzFixture;
const stats: OperationStats[] = [];
const requestLog: string[] = [];

function contextFor(op: Operation): RequestContext {
	const a = fixture.a;
	const tenant: [string, string][][] = [
		[["X-API-Key", a.key]],
		[["Authorization", `Bearer ${a.key}`]],
		[["Authorization", `Bearer ${a.token}`]],
		[["authorization", `bearer ${a.key}`]],
	];
	const admin: [string, string][][] = [[["Authorization", `Bearer ${fixture.adminToken}`]]];
	const operator: [string, string][][] = fixture.operator ? [[["X-API-Key", fixture.operator.key]]] : [];
	const all = [...tenant, ...admin, ...operator];
	// A credential may call it when it holds every scope of one of the operation's requirements (OpenAPI: the
	// `security` list is alternatives). Who holds what: tenant A every tenant scope, the admin token `admin`, the
	// operator key the scopes tenants may not hold.
	const holds = (scopes: readonly string[]) =>
		op.scopeAlternatives.some((alternative) => alternative.every((s) => scopes.includes(s)));
	const valid = !op.secured
		? []
		: [
				...(holds(fixture.tenantScopes) ? tenant : []),
				...(holds(["admin"]) ? admin : []),
				...(fixture.operator && holds(fixture.operator.scopes) ? operator : []),
			];
	const wrongScope = all.filter((c) => !valid.includes(c));
	return {
		words: fixture.words,
		knownIds: isAdmin(op) ? fixture.adminIds : fixture.tenantIds,
		valid,
		wrongScope: op.secured ? wrongScope : [],
		apiKey: a.key,
		jwt: a.token,
		otherTenant: fixture.b.tenant,
		otherKeyPrefix: fixture.b.key.split("_").slice(0, 2).join("_"),
		...(op.tokenEndpoint ? { client: { id: a.clientId, secret: a.clientSecret, scopes: fixture.tenantScopes } } : {}),
	};
}

/**
 * The client address a request comes from (`CF-Connecting-IP`, which wrangler dev takes from the client): one for
 * requests with a good credential, a fresh one for each bad credential, so the service's per-address throttles on
 * invalid credentials (which then refuse every request from that address) do not turn the rest of the run into
 * 429s. A request that sets the header itself keeps its value.
 */
let addresses = 0;
function fromAddress(request: FuzzRequest): FuzzRequest {
	if (request.headers.some(([k]) => k.toLowerCase() === "cf-connecting-ip")) return request;
	addresses++;
	const address =
		request.credential === "valid" ? "203.0.113.10" : `198.18.${(addresses >> 8) & 255}.${addresses & 255}`;
	return { ...request, headers: [...request.headers, ["CF-Connecting-IP", address]] };
}

/** One exchange; a dropped connection is retried once (wrangler dev restarts its Worker when src/ changes). */
async function exchange(request: FuzzRequest): Promise<WireResponse | WireFailure> {
	const base = new URL(server.base);
	const first = await send(base, request, TIMEOUT_MS);
	if (first.kind === "response" || first.timedOut) return first;
	await new Promise((r) => setTimeout(r, 1_000));
	return send(base, request, TIMEOUT_MS);
}

describe("the response checks (no server)", () => {
	const answer = (status: number, contentType: string, body: string, headers: Record<string, string> = {}) =>
		({
			kind: "response",
			status,
			headers: { "content-type": contentType, ...headers },
			body: Buffer.from(body),
			timedOut: false,
			ms: 1,
		}) as const;
	const options = { method: "GET", secrets: ["MRKsecret"], streaming: false, mustBeDenied: false };
	const problem = (status: number, extra: object = {}) =>
		JSON.stringify({ type: "https://x/not-found", title: "T", status, detail: "d", instance: "r1", ...extra });

	it("flags 5xx, non-problem 4xx, bad problem fields, stack traces, secrets, auth bypasses and timeouts", () => {
		const rules = (outcome: Parameters<typeof check>[0], o = options) => check(outcome, o).violations.join(" | ");
		expect(rules(answer(500, "application/problem+json", problem(500)))).toMatch(/^5xx/);
		expect(rules(answer(404, "text/plain", "Not Found"))).toMatch(/content-type.*body is not a JSON object/);
		expect(rules(answer(404, "application/problem+json", problem(400)))).toMatch(/"status" 400 ≠ HTTP 404/);
		expect(rules(answer(404, "application/problem+json", problem(404, { detail: undefined })))).toMatch(/"detail"/);
		expect(rules(answer(404, "application/problem+json", problem(404), { "x-request-id": "r2" }))).toMatch(/instance/);
		const stack = JSON.stringify({ error: "TypeError: x is undefined\n    at handler (/src/routes/chat.ts:12:5)" });
		expect(rules(answer(200, "application/json", stack))).toMatch(/stack trace/);
		expect(rules(answer(200, "application/json", '{"text":"canary MRKsecret"}'))).toMatch(/leak/);
		expect(rules(answer(200, "application/json", "{}"), { ...options, mustBeDenied: true })).toMatch(/^auth/);
		expect(rules({ kind: "failure", error: "no response within 15000 ms", timedOut: true, ms: 15_000 })).toMatch(
			/timeout/,
		);
		expect(
			rules({ kind: "failure", error: "no response", timedOut: true, ms: 15_000 }, { ...options, streaming: true }),
		).toBe("");
		expect(rules(answer(404, "application/problem+json", problem(404), { "x-request-id": "r1" }))).toBe("");
		const refused = problem(401, { type: "https://errors.edge-ai-api.dev/unauthorized" });
		expect(rules(answer(401, "application/problem+json", refused), { ...options, mustBeDenied: true })).toBe("");
	});
});

describe("fuzzing every operation of /openapi.json (wrangler dev)", () => {
	beforeAll(async () => {
		server = await startDevServer({ READY_TIMEOUT_MS: "30000" }, { args: ["--var", "RATE_LIMIT_POLICIES:[]"] });
		const doc = (await (await fetch(`${server.base}/openapi.json`)).json()) as OpenApiDocument;
		allOperations = listOperations(doc);
		operations = allOperations.filter((op) => !ONLY || ONLY.test(op.key));
		const adminScopes = new Set(allOperations.filter(isAdmin).flatMap((op) => op.scopes));
		fixture = await createFixture(server.base, {
			scopes: oauthScopes(doc).filter((s) => !adminScopes.has(s)),
			admin: ADMIN_CLIENT,
		});
	}, 180_000);

	afterAll(async () => {
		if (stats.length > 0) console.log(`fuzz seed ${SEED}, ${RUNS} runs per operation\n${table(stats)}`);
		await server?.stop();
	});

	it("finds operations to fuzz in the served document", () => {
		expect(allOperations.length).toBeGreaterThan(0);
		expect(operations.length, `FUZZ_OPS=${process.env.FUZZ_OPS} matches no operation`).toBeGreaterThan(0);
		console.log(
			`fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}), ${operations.length} operations: ${operations.map((o) => o.key).join(", ")}`,
		);
	});

	it(
		"answers 2xx or problem+json 4xx: no 5xx, stack trace, tenant B data or access without the scope",
		async () => {
			for (const op of operations) {
				await fixture.restore();
				const opStats = new OperationStats(op.key, seedFor(op), op.documented);
				stats.push(opStats);
				const started = performance.now();
				await fc.assert(
					fc.asyncProperty(requestArbitrary(op, contextFor(op)), async (generated) => {
						const request = fromAddress(generated);
						const outcome = await exchange(request);
						const verdict = check(outcome, {
							method: request.method,
							secrets: fixture.secrets,
							streaming: op.streaming,
							mustBeDenied: op.secured && request.routed && request.credential !== "valid",
						});
						opStats.record(request, outcome, verdict.stage, verdict.violations);
						requestLog.push(
							JSON.stringify({
								op: op.key,
								aspect: request.aspect,
								detail: request.detail.slice(0, 120),
								request: `${request.method} ${request.target.slice(0, 200)}`,
								status: outcome.kind === "response" ? outcome.status : outcome.error,
								stage: verdict.stage,
								ms: outcome.ms,
							}),
						);
					}),
					{ seed: opStats.seed, numRuns: RUNS },
				);
				opStats.ms = performance.now() - started;
			}
			const log = path.join(tmpdir(), `fuzz-openapi-${SEED}.jsonl`);
			writeFileSync(log, `${requestLog.join("\n")}\n`);
			console.log(`every request and its answer: ${log}`);
			const violations = stats.flatMap((s) => s.violations);
			if (violations.length > 0) {
				const file = path.join(tmpdir(), `fuzz-openapi-${SEED}.txt`);
				writeFileSync(file, violations.map(describeViolation).join("\n\n"));
				console.log(`${violations.length} violations; every one in ${file}`);
			}
			for (const s of stats) expect.soft(summarize(s.violations), `${s.operation} (seed ${s.seed})`).toBe("");
		},
		15 * 60_000,
	);

	it("reached the handler of every operation (not only refusals)", () => {
		expect(stats.map((s) => s.operation)).toEqual(operations.map((o) => o.key));
		for (const s of stats) {
			expect.soft(s.exercised, `${s.operation} got nothing but 401/403/404`).toBe(true);
			expect
				.soft(s.handledShare, `${s.operation}: share of requests its handler answered`)
				.toBeGreaterThanOrEqual(MIN_HANDLED);
		}
	});
});
