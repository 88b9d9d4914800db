/**
 * An in-memory stand-in for the Vectorize (V2) binding, written from Cloudflare's documentation (not from our
 * Durable Object), so the contract suite can show that the local index behaves like the real thing:
 * cosine scores; `namespace` restricts a query; `topK` default 5, at most 100, at most 20 with `returnValues` or
 * `returnMetadata: "all"`; `returnMetadata` none (default) / indexed (strings cut to 64 bytes) / all (`true` = all);
 * filters `$eq $ne $lt $lte $gt $gte $in $nin` ANDed across fields; `insert` skips ids that exist, `upsert`
 * replaces; writes return `{ mutationId }` and apply asynchronously (after `delayMs`); `describe()` reports the
 * processed mutation and its time; ids ≤ 64 bytes; fixed dimensions.
 */
type Stored = { id: string; values: number[]; namespace?: string; metadata?: Record<string, VectorizeVectorMetadata> };
type Mutation = { id: string; at: number; dueAt: number; apply: () => void };

export function vectorizeStub(dimensions: number, delayMs = 0): Vectorize {
	const visible = new Map<string, Stored>();
	const queue: Mutation[] = [];
	let processed: { id: string; at: number } | null = null;

	const settle = () => {
		const now = Date.now();
		while (queue.length > 0 && (queue[0]?.dueAt ?? Number.POSITIVE_INFINITY) <= now) {
			const m = queue.shift() as Mutation;
			m.apply();
			processed = { id: m.id, at: m.at };
		}
	};
	const enqueue = (apply: () => void): VectorizeAsyncMutation => {
		const id = crypto.randomUUID();
		const at = Date.now();
		queue.push({ id, at, dueAt: at + delayMs, apply });
		settle();
		return { mutationId: id };
	};
	const validate = (vectors: VectorizeVector[]) => {
		for (const v of vectors) {
			if (!v.id || new TextEncoder().encode(v.id).length > 64) throw new Error("VECTOR_INVALID_ID");
			if (v.values.length !== dimensions) throw new Error(`VECTOR_DIMENSION_MISMATCH: expected ${dimensions}`);
		}
	};
	const copy = (v: VectorizeVector): Stored => ({
		id: v.id,
		values: Array.from(v.values),
		...(v.namespace !== undefined ? { namespace: v.namespace } : {}),
		...(v.metadata !== undefined ? { metadata: structuredClone(v.metadata) } : {}),
	});
	const passes = (filter: VectorizeVectorMetadataFilter | undefined, m: Record<string, unknown> = {}) =>
		Object.entries(filter ?? {}).every(([k, cond]) => {
			const v = m[k];
			const ops =
				cond !== null && typeof cond === "object" && !Array.isArray(cond) ? Object.entries(cond) : [["$eq", cond]];
			return ops.every(([op, arg]) => {
				const comparable = typeof v === typeof arg && (typeof v === "number" || typeof v === "string");
				switch (op) {
					case "$eq":
						return v === arg;
					case "$ne":
						return v !== arg;
					case "$in":
						return (arg as unknown[]).includes(v);
					case "$nin":
						return !(arg as unknown[]).includes(v);
					case "$lt":
						return comparable && (v as number) < (arg as number);
					case "$lte":
						return comparable && (v as number) <= (arg as number);
					case "$gt":
						return comparable && (v as number) > (arg as number);
					case "$gte":
						return comparable && (v as number) >= (arg as number);
					default:
						throw new Error(`VECTOR_QUERY_ERROR: unknown operator ${op}`);
				}
			});
		});
	const cos = (a: number[], b: number[]) => {
		const dot = a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);
		const na = Math.hypot(...a);
		const nb = Math.hypot(...b);
		return na && nb ? dot / (na * nb) : 0;
	};
	const cut = (m: Record<string, VectorizeVectorMetadata>) =>
		Object.fromEntries(
			Object.entries(m).map(([k, v]) => [
				k,
				typeof v === "string"
					? new TextDecoder().decode(new TextEncoder().encode(v).slice(0, 64)).replace(/\uFFFD+$/, "")
					: v,
			]),
		);

	const stub = {
		async describe(): Promise<VectorizeIndexInfo> {
			settle();
			return {
				vectorCount: visible.size,
				dimensions,
				processedUpToDatetime: queue.length === 0 ? Date.now() : (processed?.at ?? 0),
				processedUpToMutation: (processed?.id ?? "") as unknown as number,
			};
		},
		async query(vector: number[] | VectorFloatArray, options: VectorizeQueryOptions = {}): Promise<VectorizeMatches> {
			settle();
			const level =
				options.returnMetadata === true
					? "all"
					: options.returnMetadata === false
						? "none"
						: (options.returnMetadata ?? "none");
			const topK = options.topK ?? 5;
			const max = options.returnValues || level === "all" ? 20 : 100;
			if (topK < 1 || topK > max) throw new Error(`VECTOR_QUERY_ERROR: topK must be at most ${max}`);
			// Vectorize: a filter's compact JSON must be under 2048 bytes.
			const filterBytes = new TextEncoder().encode(JSON.stringify(options.filter ?? {})).length;
			if (filterBytes >= 2048) {
				throw new Error(`VECTOR_QUERY_ERROR: a filter's compact JSON must be under 2048 bytes (got ${filterBytes})`);
			}
			const q = Array.from(vector);
			if (q.length !== dimensions) throw new Error("VECTOR_DIMENSION_MISMATCH");
			const matches = [...visible.values()]
				.filter((v) => options.namespace === undefined || v.namespace === options.namespace)
				.filter((v) => passes(options.filter, v.metadata))
				.map((v) => ({ v, score: cos(q, v.values) }))
				.sort((a, b) => b.score - a.score || (a.v.id < b.v.id ? -1 : 1))
				.slice(0, topK)
				.map(({ v, score }) => ({
					id: v.id,
					score,
					...(options.returnValues ? { values: v.values } : {}),
					...(v.namespace !== undefined ? { namespace: v.namespace } : {}),
					...(level !== "none" && v.metadata ? { metadata: level === "indexed" ? cut(v.metadata) : v.metadata } : {}),
				}));
			return { matches, count: matches.length };
		},
		async insert(vectors: VectorizeVector[]): Promise<VectorizeAsyncMutation> {
			validate(vectors);
			const items = vectors.map(copy);
			return enqueue(() => {
				for (const v of items) if (!visible.has(v.id)) visible.set(v.id, v);
			});
		},
		async upsert(vectors: VectorizeVector[]): Promise<VectorizeAsyncMutation> {
			validate(vectors);
			const items = vectors.map(copy);
			return enqueue(() => {
				for (const v of items) visible.set(v.id, v);
			});
		},
		async deleteByIds(ids: string[]): Promise<VectorizeAsyncMutation> {
			return enqueue(() => {
				for (const id of ids) visible.delete(id);
			});
		},
		async getByIds(ids: string[]): Promise<VectorizeVector[]> {
			settle();
			return ids.flatMap((id) => {
				const v = visible.get(id);
				return v ? [{ ...v }] : [];
			});
		},
	};
	return stub as unknown as Vectorize;
}
