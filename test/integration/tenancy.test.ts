import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bearer, callStreaming, callWith, freshPrincipalToken, tokenFor } from "../helpers/workers/auth";
import { DEMO_AUTH, expectProblem, OPS_AUTH } from "../helpers/workers/http";

/**
 * Tenants against each other and against operators (docs/security.md): every tenant sees only its own usage and
 * conversations, operator data and powers stay in the operator tenant, and a RAG answer is governed like a chat
 * completion.
 */
let seq = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${seq++}`;
const json = (auth: Record<string, string>, body: unknown): RequestInit => ({
	method: "POST",
	headers: { ...auth, "Content-Type": "application/json" },
	body: JSON.stringify(body),
});

type UsagePage = {
	object: string;
	data: {
		object: string;
		start_time: number;
		end_time: number;
		results: {
			model: string | null;
			route: string | null;
			subject: string | null;
			num_model_requests: number;
			input_tokens: number;
			output_tokens: number;
			cost: { value: number; currency: string };
		}[];
	}[];
	has_more: boolean;
	next_page: string | null;
};

async function events(res: Response): Promise<string[]> {
	const text = await res.text();
	return text
		.split("\n\n")
		.filter((e) => e.startsWith("data: "))
		.map((e) => e.slice(6));
}

const PRICES = JSON.stringify({ local: { prompt_per_mtok: 1_000, completion_per_mtok: 2_000 } });

describe("GET /v1/usage: a tenant's own exact usage", () => {
	it("counts every model call of the tenant (plain and streamed, chat and RAG) by model, route and subject; other tenants see none of it", async () => {
		const tenant = unique("usage");
		const other = unique("usage-other");
		const scopes = ["chat", "rag:read", "rag:write", "usage:read"] as const;
		const alice = bearer(await freshPrincipalToken(`${tenant}-alice`, tenant, scopes));
		const bob = bearer(await freshPrincipalToken(`${tenant}-bob`, tenant, scopes));
		const eve = bearer(await freshPrincipalToken(`${other}-eve`, other, scopes));
		const vars = { CHAT_PRICES: PRICES };
		const expected = { alice: { n: 0, input: 0, output: 0 }, bob: { n: 0, input: 0, output: 0 } };
		const add = (who: "alice" | "bob", u: { prompt_tokens: number; completion_tokens: number }) => {
			expected[who].n++;
			expected[who].input += u.prompt_tokens;
			expected[who].output += u.completion_tokens;
		};
		for (let i = 0; i < 3; i++) {
			const res = await callWith(
				vars,
				"/v1/chat/completions",
				json(alice, { messages: [{ role: "user", content: `hello ${i}` }], max_tokens: 5 + i }),
			);
			expect(res.status).toBe(200);
			add("alice", ((await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage);
		}
		const { res: streamed, settled } = await callStreaming(
			vars,
			"/v1/chat/completions",
			json(bob, {
				messages: [{ role: "user", content: "stream it" }],
				max_tokens: 7,
				stream: true,
				stream_options: { include_usage: true },
			}),
		);
		const data = await events(streamed);
		await settled();
		add("bob", JSON.parse(data.at(-2) ?? "{}").usage);
		// The other tenant's calls never show up in this tenant's usage.
		await callWith(vars, "/v1/chat/completions", json(eve, { messages: [{ role: "user", content: "mine" }] }));

		const read = async (auth: Record<string, string>, query: string) => {
			const res = await callWith(vars, `/v1/usage?${query}`, { headers: auth });
			expect(res.status, await res.clone().text()).toBe(200);
			return (await res.json()) as UsagePage;
		};
		// The ledger is written in the background (waitUntil): the calls above have settled, so it is exact now.
		const bySubject = await read(alice, "bucket_width=1d&group_by=model,subject&limit=1");
		expect(bySubject).toMatchObject({ object: "page", has_more: false, next_page: null });
		expect(bySubject.data).toHaveLength(1);
		const today = bySubject.data[0];
		expect(today?.object).toBe("bucket");
		expect(today?.end_time).toBeGreaterThan(today?.start_time ?? Number.POSITIVE_INFINITY);
		const results = today?.results ?? [];
		expect(results.map((r) => r.subject).sort()).toEqual([`${tenant}-alice`, `${tenant}-bob`]);
		for (const who of ["alice", "bob"] as const) {
			const r = results.find((x) => x.subject === `${tenant}-${who}`);
			expect(r).toMatchObject({
				model: "local",
				route: null,
				num_model_requests: expected[who].n,
				input_tokens: expected[who].input,
				output_tokens: expected[who].output,
			});
			// USD per million tokens × tokens, from CHAT_PRICES.
			expect(r?.cost.value).toBeCloseTo((expected[who].input * 1_000 + expected[who].output * 2_000) / 1e6, 9);
			expect(r?.cost.currency).toBe("usd");
		}
		const eveView = await read(eve, "bucket_width=1d&group_by=subject&limit=1");
		expect(eveView.data[0]?.results.map((r) => r.subject)).toEqual([`${other}-eve`]);
		// Hourly buckets, paged: 30 hourly buckets in pages of 24, the last of them holding the calls.
		const first = await read(
			alice,
			"bucket_width=1h&limit=24&start_time=" + String(Math.floor(Date.now() / 1000) - 29 * 3600),
		);
		expect(first.data).toHaveLength(24);
		expect(first.has_more).toBe(true);
		const second = await read(
			alice,
			`bucket_width=1h&limit=24&start_time=${String(Math.floor(Date.now() / 1000) - 29 * 3600)}&page=${first.next_page}`,
		);
		expect(second.has_more).toBe(false);
		const total = [...first.data, ...second.data]
			.flatMap((b) => b.results)
			.reduce((s, r) => s + r.num_model_requests, 0);
		expect(total).toBe(expected.alice.n + expected.bob.n);
	});

	it("refuses another tenant's usage to tenants, serves it to operators, and validates the query", async () => {
		const tenant = unique("usage-q");
		const auth = bearer(await freshPrincipalToken(`${tenant}-u`, tenant, ["chat", "usage:read"]));
		await expectProblem(await callWith({}, "/v1/usage?tenant=demo", { headers: auth }), 403, "forbidden");
		await expectProblem(await callWith({}, "/v1/usage/storage?tenant=demo", { headers: auth }), 403, "forbidden");
		const admin = bearer(await tokenFor("admin", "admin-secret"));
		expect((await callWith({}, `/v1/usage?tenant=${tenant}`, { headers: admin })).status).toBe(200);
		expect((await callWith({}, `/v1/usage/storage?tenant=${tenant}`, { headers: admin })).status).toBe(200);
		const chatOnly = bearer(await freshPrincipalToken(`${tenant}-c`, tenant, ["chat"]));
		await expectProblem(await callWith({}, "/v1/usage", { headers: chatOnly }), 403, "forbidden");
		for (const bad of [
			"bucket_width=1w",
			"group_by=tenant",
			"limit=32",
			"bucket_width=1h&limit=169",
			"start_time=2000000000&end_time=1000000000",
			"start_time=0",
			"page=12",
			"start_time=abc",
		]) {
			await expectProblem(await callWith({}, `/v1/usage?${bad}`, { headers: auth }), 422, "validation-failed");
		}
	});
});

describe("operator data and powers stay with operators", () => {
	it("tenant credentials get 403 on /metrics and /v1/slo; the operator key reads them", async () => {
		for (const path of ["/metrics", "/v1/slo"]) {
			await expectProblem(await callWith({}, path, { headers: DEMO_AUTH }), 403, "forbidden");
			expect((await callWith({}, path, { headers: OPS_AUTH })).status).toBe(200);
		}
		// The demo client cannot even ask for metrics:read.
		const res = await callWith({}, "/v1/auth/token", {
			method: "POST",
			headers: { Authorization: `Basic ${btoa("demo:demo-secret")}`, "CF-Connecting-IP": "198.51.100.9" },
			body: new URLSearchParams({ grant_type: "client_credentials", scope: "chat metrics:read" }),
		});
		await expectProblem(res, 400, "invalid-scope");
	});

	it("the admin API refuses to grant operator scopes outside the operator tenant", async () => {
		const admin = { ...bearer(await tokenFor("admin", "admin-secret")), "Content-Type": "application/json" };
		const tenant = unique("confined");
		for (const scopes of [["admin"], ["metrics:read"], ["chat", "admin"]]) {
			for (const path of ["/v1/admin/api-keys", "/v1/admin/clients"]) {
				const res = await callWith({}, path, {
					method: "POST",
					headers: admin,
					body: JSON.stringify({ tenant, subject: "s", scopes }),
				});
				const body = await expectProblem(res, 422, "validation-failed");
				expect(body.errors?.[0]?.path).toBe("scopes");
			}
		}
		const ok = await callWith({}, "/v1/admin/api-keys", {
			method: "POST",
			headers: admin,
			body: JSON.stringify({ tenant: "platform", subject: unique("scraper"), scopes: ["metrics:read"] }),
		});
		expect(ok.status).toBe(201);
		// With OPERATOR_TENANT moved, `platform` is an ordinary tenant: its old admin powers are gone.
		await expectProblem(
			await callWith({ OPERATOR_TENANT: "ops" }, "/v1/admin/clients", { headers: admin }),
			403,
			"forbidden",
		);
	});

	it("a credential stored with an operator scope in another tenant (older data) holds no operator power", async () => {
		const tenant = unique("legacy");
		const token = await freshPrincipalToken(`${tenant}-root`, tenant, ["chat", "admin", "metrics:read"]);
		const me = (await (await callWith({}, "/v1/auth/me", { headers: bearer(token) })).json()) as { scopes: string[] };
		expect(me.scopes).toEqual(["chat"]);
		await expectProblem(await callWith({}, "/v1/admin/api-keys", { headers: bearer(token) }), 403, "forbidden");
		await expectProblem(await callWith({}, "/metrics", { headers: bearer(token) }), 403, "forbidden");
	});
});

describe("conversations are owned by tenant and subject", () => {
	it("another subject of the same tenant cannot read, extend or delete it; CONVERSATION_SCOPE=tenant shares it", async () => {
		const tenant = unique("conv");
		const alice = bearer(await freshPrincipalToken(`${tenant}-alice`, tenant, ["chat"]));
		const bob = bearer(await freshPrincipalToken(`${tenant}-bob`, tenant, ["chat"]));
		const id = unique("c");
		const say = (auth: Record<string, string>, content: string, vars: Record<string, string> = {}) =>
			callWith(
				vars,
				"/v1/chat/completions",
				json(auth, { conversation_id: id, messages: [{ role: "user", content }] }),
			);
		expect((await say(alice, "alice's secret plan")).status).toBe(200);
		await expectProblem(await callWith({}, `/v1/conversations/${id}`, { headers: bob }), 404, "not-found");
		await expectProblem(
			await callWith({}, `/v1/conversations/${id}`, { method: "DELETE", headers: bob }),
			404,
			"not-found",
		);
		// Bob's message under the same id starts his own conversation, never seeing Alice's history.
		expect((await say(bob, "bob here")).status).toBe(200);
		const bobs = (await (await callWith({}, `/v1/conversations/${id}`, { headers: bob })).json()) as {
			messages: { content: string }[];
		};
		expect(JSON.stringify(bobs)).not.toContain("secret plan");
		const alices = (await (await callWith({}, `/v1/conversations/${id}`, { headers: alice })).json()) as {
			messages: { content: string }[];
		};
		expect(alices.messages.map((m) => m.content)[0]).toBe("alice's secret plan");

		const shared = { CONVERSATION_SCOPE: "tenant" };
		const sharedId = unique("shared");
		await callWith(
			shared,
			"/v1/chat/completions",
			json(alice, { conversation_id: sharedId, messages: [{ role: "user", content: "team note" }] }),
		);
		const seen = await callWith(shared, `/v1/conversations/${sharedId}`, { headers: bob });
		expect(seen.status).toBe(200);
		expect(JSON.stringify(await seen.json())).toContain("team note");
	});
});

describe("a RAG answer is an LLM call, governed like one", () => {
	const DOC = {
		id: "guide",
		title: "Deploy guide",
		text: "To roll back a canary, run wrangler rollback and page the on-call engineer. ".repeat(3),
	};

	it("needs chat as well as rag:read, and caps max_tokens like chat", async () => {
		const tenant = unique("ragq");
		const reader = bearer(await freshPrincipalToken(`${tenant}-r`, tenant, ["rag:read", "rag:write"]));
		const full = bearer(await freshPrincipalToken(`${tenant}-f`, tenant, ["rag:read", "chat"]));
		expect((await callWith({}, "/v1/documents", json(reader, { documents: [DOC] }))).status).toBe(201);
		const denied = await expectProblem(
			await callWith({}, "/v1/rag/query", json(reader, { query: "how do I roll back" })),
			403,
			"forbidden",
		);
		expect(denied.required_scope).toBe("chat");
		// Search needs no model: rag:read is enough.
		expect((await callWith({}, "/v1/rag/search", json(reader, { query: "roll back" }))).status).toBe(200);
		const capped = await expectProblem(
			await callWith(
				{ CHAT_MAX_TOKENS_LIMIT: "64", CHAT_DEFAULT_MAX_TOKENS: "32" },
				"/v1/rag/query",
				json(full, { query: "roll back", max_tokens: 65 }),
			),
			422,
			"validation-failed",
		);
		expect(capped.errors?.[0]?.path).toBe("max_tokens");
		expect(
			(
				await callWith(
					{ CHAT_MAX_TOKENS_LIMIT: "64", CHAT_DEFAULT_MAX_TOKENS: "32" },
					"/v1/rag/query",
					json(full, { query: "roll back", max_tokens: 64 }),
				)
			).status,
		).toBe(200);
	});

	it("reserves the worst case against the tokens policy and commits the real usage, streamed or not", async () => {
		const tenant = unique("ragt");
		const subject = `${tenant}-u`;
		const auth = bearer(await freshPrincipalToken(subject, tenant, ["rag:read", "rag:write", "chat"]));
		expect((await callWith({}, "/v1/documents", json(auth, { documents: [DOC] }))).status).toBe(201);
		const policy = {
			name: "answer-tokens",
			routes: ["POST /v1/rag/query"],
			key: "subject",
			limit: 100_000,
			window_s: 3600,
			unit: "tokens",
			fail: "closed",
		};
		const vars = { RATE_LIMIT_POLICIES: JSON.stringify([policy]), RATE_LIMIT_TIMEOUT_MS: "5000" };
		const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`rl:sub:${tenant}/${subject}`));
		const used = async () =>
			(
				await stub.consume([{ policy: policy.name, limit: policy.limit, windowMs: 3_600_000, cost: 0 }], {
					dryRun: true,
				})
			).decisions[0]?.used ?? -1;
		const res = await callWith(
			vars,
			"/v1/rag/query",
			json(auth, { query: "how do I roll back a canary", max_tokens: 40 }),
		);
		expect(res.status).toBe(200);
		const remaining = Number(res.headers.get("X-RateLimit-Remaining"));
		const answer = (await res.json()) as { usage: { total_tokens: number }; grounded: boolean };
		expect(answer.grounded).toBe(true);
		// The decision held prompt estimate + max_tokens (at least the 40 completion tokens and the question)…
		expect(100_000 - remaining).toBeGreaterThan(40 + 10);
		// …and the commit left exactly the model's reported usage.
		expect(await used()).toBe(answer.usage.total_tokens);

		const { res: streamed, settled } = await callStreaming(
			vars,
			"/v1/rag/query",
			json(auth, { query: "how do I roll back a canary", max_tokens: 30, stream: true }),
		);
		const data = await events(streamed);
		await settled();
		expect(JSON.parse(data[0] ?? "{}").object).toBe("rag.citations");
		expect(data.at(-1)).toBe("[DONE]");
		const streamUsage = JSON.parse(data.at(-2) ?? "{}").usage as { total_tokens: number };
		expect(streamUsage.total_tokens).toBeGreaterThan(0);
		expect(await used()).toBe(answer.usage.total_tokens + streamUsage.total_tokens);

		// A budget smaller than this answer's worst case: refused before any model call, the policy named.
		const tight = { ...policy, limit: 50 };
		const refused = await callWith(
			{ ...vars, RATE_LIMIT_POLICIES: JSON.stringify([tight]) },
			"/v1/rag/query",
			json(auth, { query: "how do I roll back a canary", max_tokens: 40 }),
		);
		const problem = await expectProblem(refused, 429, "quota-exceeded");
		expect(problem["violated-policies"]).toEqual(["answer-tokens"]);
	});
});
