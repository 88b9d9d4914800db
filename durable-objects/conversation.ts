/**
 * The `Conversation` Durable Object: the memory of one conversation of the chat API (src/routes/chat.ts), its
 * messages in order, trimmed to their caps and deleted after a TTL untouched, with the SQLite schema it keeps them in
 * ({@link CONVERSATION_SCHEMA}).
 *
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import { estimateTextTokens } from "../src/chat/tokens";
import type { ChatMessage } from "../src/ports/chat-model";
import { applySchema, type SchemaStep } from "./sqlite-schema";

/**
 * Storage schema of `Conversation` (docs/storage-schema.md): the ordered messages of one conversation, and its owner
 * (the `tenant/subject` — or the `tenant`, with CONVERSATION_SCOPE=tenant — the column keeps its first name);
 * step 2: how long it lives untouched (ms).
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
	["ALTER TABLE owner ADD COLUMN ttl_ms INTEGER"],
];

export type StoredMessage = ChatMessage & { at_ms: number };
/** Trimming caps, and how long the conversation lives untouched (ms) before its storage is deleted. */
export type Caps = { maxMessages: number; maxTokens: number; ttlMs?: number };

/**
 * One object per conversation, named `<owner>/<conversation id>` where the owner is `<tenant>/<subject>` (or the
 * tenant alone when conversations are shared per tenant), so no caller can reach another owner's conversation; the
 * owner row double-checks it. Messages keep their order (one writer, autoincrement). Caps: the oldest non-system
 * messages are trimmed first when the history exceeds its message or token cap; system messages stay unless they
 * alone exceed it. A conversation untouched for its TTL is deleted by an alarm (storage does not grow forever).
 *
 * @example
 * ```ts
 * const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${tenant}/${subject}/${id}`));
 * await stub.append(`${tenant}/${subject}`, [{ role: "user", content: "hi" }], { maxMessages: 100, maxTokens: 16_000, ttlMs: 2_592_000_000 });
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

	/** Whether `owner` may use this conversation (claims it when new). */
	#owns(owner: string, claim: boolean): boolean {
		const sql = this.ctx.storage.sql;
		const row = sql.exec<{ tenant: string }>("SELECT tenant FROM owner WHERE id = 1").toArray()[0];
		if (row) return row.tenant === owner;
		if (claim) sql.exec("INSERT INTO owner (id, tenant, created_at_ms) VALUES (1, ?, ?)", owner, Date.now());
		return claim;
	}

	/** The history, oldest first; empty for a conversation that does not exist (or is another owner's). */
	async history(owner: string): Promise<StoredMessage[]> {
		this.#ensureSchema();
		if (!this.#owns(owner, false)) return [];
		return this.ctx.storage.sql
			.exec<StoredMessage>("SELECT role, content, at_ms FROM messages ORDER BY seq")
			.toArray()
			.map((r) => ({ role: r.role, content: r.content, at_ms: r.at_ms }));
	}

	/**
	 * Appends messages in order, then trims to the caps. Returns the number of messages kept, or null when the
	 * conversation is another owner's (an answer, not an exception: a throw across RPC is also reported as uncaught
	 * inside the object).
	 */
	async append(owner: string, messages: ChatMessage[], caps: Caps): Promise<number | null> {
		this.#ensureSchema();
		if (!this.#owns(owner, true)) return null;
		const sql = this.ctx.storage.sql;
		const now = Date.now();
		if (caps.ttlMs !== undefined) {
			sql.exec("UPDATE owner SET ttl_ms = ? WHERE id = 1", caps.ttlMs);
			// Every append pushes the expiry back: the alarm deletes a conversation untouched for its TTL.
			await this.ctx.storage.setAlarm(now + caps.ttlMs);
		}
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

	/** Forgets the conversation (all its storage). Returns whether there was one to forget for this owner. */
	async forget(owner: string): Promise<boolean> {
		this.#ensureSchema();
		if (!this.#owns(owner, false)) return false;
		await this.ctx.storage.deleteAlarm();
		await this.ctx.storage.deleteAll();
		this.#schemaVersion = 0;
		return true;
	}

	/** Deletes the conversation once it has been untouched for its TTL (a later append moved the alarm on). */
	override async alarm(): Promise<void> {
		this.#ensureSchema();
		const sql = this.ctx.storage.sql;
		const ttl = sql.exec<{ ttl_ms: number | null }>("SELECT ttl_ms FROM owner WHERE id = 1").toArray()[0]?.ttl_ms;
		const last = sql.exec<{ at: number | null }>("SELECT max(at_ms) AS at FROM messages").one().at;
		const now = Date.now();
		if (ttl !== null && ttl !== undefined && last !== null && last + ttl > now) {
			await this.ctx.storage.setAlarm(last + ttl);
			return;
		}
		await this.ctx.storage.deleteAll();
		this.#schemaVersion = 0;
	}
}
