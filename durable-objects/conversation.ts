import { DurableObject } from "cloudflare:workers";
import { estimateTextTokens } from "../src/chat/tokens";
import type { ChatMessage } from "../src/ports/chat-model";
import { applySchema, type SchemaStep } from "./sqlite-schema";

/**
 * Storage schema of `Conversation` (docs/storage-schema.md): the ordered messages of one conversation, and the
 * tenant that owns it.
 */
export const CONVERSATION_SCHEMA: readonly SchemaStep[] = [
	[
		`CREATE TABLE IF NOT EXISTS messages (
			seq INTEGER PRIMARY KEY AUTOINCREMENT,
			role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
			content TEXT NOT NULL,
			tokens INTEGER NOT NULL,
			at_ms INTEGER NOT NULL
		)`,
		"CREATE TABLE IF NOT EXISTS owner (id INTEGER PRIMARY KEY CHECK (id = 1), tenant TEXT NOT NULL, created_at_ms INTEGER NOT NULL)",
	],
];

export type StoredMessage = ChatMessage & { at_ms: number };
export type Caps = { maxMessages: number; maxTokens: number };

/**
 * One object per conversation, named `<tenant>/<conversation id>` so tenants can never reach each other's
 * conversations; the owner row double-checks it. Messages keep their order (one writer, autoincrement). Caps: the
 * oldest non-system messages are trimmed first when the history exceeds its message or token cap; system messages
 * stay unless they alone exceed it.
 *
 * @example
 * ```ts
 * const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${tenant}/${id}`));
 * await stub.append(tenant, [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }], caps);
 * ```
 */
export class Conversation extends DurableObject<Env> {
	#schemaVersion = 0;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		void ctx.blockConcurrencyWhile(async () => {
			this.#schemaVersion = applySchema(ctx.storage.sql, CONVERSATION_SCHEMA);
		});
	}

	#ensureSchema(): void {
		if (this.#schemaVersion === 0) this.#schemaVersion = applySchema(this.ctx.storage.sql, CONVERSATION_SCHEMA);
	}

	/** Whether `tenant` may use this conversation (claims it when new). */
	#owns(tenant: string, claim: boolean): boolean {
		const sql = this.ctx.storage.sql;
		const row = sql.exec<{ tenant: string }>("SELECT tenant FROM owner WHERE id = 1").toArray()[0];
		if (row) return row.tenant === tenant;
		if (claim) sql.exec("INSERT INTO owner (id, tenant, created_at_ms) VALUES (1, ?, ?)", tenant, Date.now());
		return claim;
	}

	/** The history, oldest first; empty for a conversation that does not exist (or is another tenant's). */
	async history(tenant: string): Promise<StoredMessage[]> {
		this.#ensureSchema();
		if (!this.#owns(tenant, false)) return [];
		return this.ctx.storage.sql
			.exec<StoredMessage>("SELECT role, content, at_ms FROM messages ORDER BY seq")
			.toArray()
			.map((r) => ({ role: r.role, content: r.content, at_ms: r.at_ms }));
	}

	/** Appends messages in order, then trims to the caps. Returns the number of messages kept. */
	async append(tenant: string, messages: ChatMessage[], caps: Caps): Promise<number> {
		this.#ensureSchema();
		if (!this.#owns(tenant, true)) throw new Error("conversation belongs to another tenant");
		const sql = this.ctx.storage.sql;
		const now = Date.now();
		for (const m of messages) {
			sql.exec(
				"INSERT INTO messages (role, content, tokens, at_ms) VALUES (?, ?, ?, ?)",
				m.role,
				m.content,
				estimateTextTokens(m.content) + 4,
				now,
			);
		}
		for (;;) {
			const { n, tokens } = sql
				.exec<{ n: number; tokens: number }>("SELECT count(*) AS n, coalesce(sum(tokens), 0) AS tokens FROM messages")
				.one();
			if (n <= caps.maxMessages && tokens <= caps.maxTokens) return n;
			const victim =
				sql
					.exec<{ seq: number }>("SELECT seq FROM messages WHERE role != 'system' ORDER BY seq LIMIT 1")
					.toArray()[0] ?? sql.exec<{ seq: number }>("SELECT seq FROM messages ORDER BY seq LIMIT 1").toArray()[0];
			if (!victim) return 0;
			sql.exec("DELETE FROM messages WHERE seq = ?", victim.seq);
		}
	}

	/** Forgets the conversation (all its storage). Returns whether there was one to forget for this tenant. */
	async forget(tenant: string): Promise<boolean> {
		this.#ensureSchema();
		if (!this.#owns(tenant, false)) return false;
		await this.ctx.storage.deleteAll();
		this.#schemaVersion = 0;
		return true;
	}
}
