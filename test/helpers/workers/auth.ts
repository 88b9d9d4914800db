import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { createApp } from "../../../src/app";
import type { Scope } from "../../../src/auth/principal";
import { issueAccessToken } from "../../../src/auth/tokens";
import { loadConfig } from "../../../src/config";
import { ORIGIN } from "./http";

/** One app for calls with overridden bindings (each override object is parsed as its own configuration). */
const app = createApp();

/** Calls the app with `overrides` merged into the real bindings (same D1 and Durable Objects). */
export async function callWith(overrides: Record<string, string>, path: string, init?: RequestInit): Promise<Response> {
	const ctx = createExecutionContext();
	const res = await app.fetch(new Request(ORIGIN + path, init), { ...env, ...overrides }, ctx);
	await waitOnExecutionContext(ctx);
	return res;
}

/**
 * Like {@link callWith} for streamed responses: returns before the execution context settles (its waitUntil work
 * writes the stream, so waiting first would deadlock); `settled()` waits for it after the body was read.
 */
export async function callStreaming(
	overrides: Record<string, string>,
	path: string,
	init?: RequestInit,
): Promise<{ res: Response; settled: () => Promise<void> }> {
	const ctx = createExecutionContext();
	const res = await app.fetch(new Request(ORIGIN + path, init), { ...env, ...overrides }, ctx);
	return { res, settled: () => waitOnExecutionContext(ctx) };
}

export function basic(id: string, secret: string): string {
	return `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`;
}

/** Gets an access token by client credentials (HTTP Basic); asserts success. */
export async function tokenFor(
	id: string,
	secret: string,
	options: { scope?: string; overrides?: Record<string, string>; ip?: string } = {},
): Promise<string> {
	const form = new URLSearchParams({ grant_type: "client_credentials" });
	if (options.scope) form.set("scope", options.scope);
	const res = await callWith(options.overrides ?? {}, "/v1/auth/token", {
		method: "POST",
		body: form,
		headers: { Authorization: basic(id, secret), "CF-Connecting-IP": options.ip ?? "198.51.100.1" },
	});
	expect(res.status, await res.clone().text()).toBe(200);
	return ((await res.json()) as { access_token: string }).access_token;
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/**
 * A bearer token for a fresh client of `tenant` (inserted straight into D1 with an unusable secret), so each test
 * gets limit keys of its own. Signed with the local configuration's key, as the token endpoint would.
 */
export async function freshPrincipalToken(
	subject: string,
	tenant = "rl-tests",
	scopes: readonly Scope[] = ["chat", "rag:read", "rag:write"],
): Promise<string> {
	await env.DB.prepare(
		"INSERT OR IGNORE INTO api_clients (client_id, tenant, scopes, secret_hash, secret_salt, secret_iter, created_at) VALUES (?, ?, ?, 'x', 'x', 1, ?)",
	)
		.bind(subject, tenant, scopes.join(" "), Date.now())
		.run();
	const loaded = loadConfig(env);
	if (!loaded.ok) throw new Error(`test configuration invalid: ${JSON.stringify(loaded.issues)}`);
	return (await issueAccessToken(loaded.config.auth, { subject, tenant, scopes })).token;
}
