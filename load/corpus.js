// Deterministic documents and questions for the RAG routes under load: a small corpus ingested once per run
// (setup), and one fresh document per ingest iteration. Every document carries a unique code word (`KX<n>`), so a
// search for it has exactly one right answer and checks can tell a real retrieval from an empty one.
// Pure ES2017: k6 (init and VU code) and Node (tests) both import it.

const TOPICS = [
	["rollback", "canary", "deployment", "version", "traffic", "wrangler"],
	["latency", "percentile", "budget", "objective", "burn", "alert"],
	["limiter", "window", "quota", "tenant", "subject", "policy"],
	["ingest", "chunk", "embedding", "index", "bookmark", "citation"],
	["token", "client", "secret", "scope", "rotation", "issuer"],
];

/**
 * A small seeded PRNG (mulberry32): the same seed always yields the same numbers in [0, 1) — the load corpus's texts,
 * and the RAG evaluation set (scripts/gen-rag-eval.ts). Plain ES2017, so k6 and Node both load it.
 * @param {number} seed
 */
export function prng(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

/** The code word of document `n`: rare enough that keyword search finds only that document. @param {number} n */
export function codeWord(n) {
	return `KX${n}`;
}

/**
 * A markdown document of about `paragraphs` × 300 characters (two or three chunks at the default 1 000-character
 * chunk size) about one topic, mentioning its code word in the first paragraph.
 * @param {number} n @param {number} [paragraphs]
 * @returns {{ id: string; title: string; text: string; metadata: { topic: string; n: number } }}
 */
export function corpusDocument(n, paragraphs) {
	const count = paragraphs || 6;
	const words = TOPICS[n % TOPICS.length] || [];
	const random = prng(n + 1);
	const pick = () => words[Math.floor(random() * words.length)] || "service";
	const sentences = [];
	for (let p = 0; p < count; p++) {
		const parts = [];
		for (let s = 0; s < 4; s++) {
			parts.push(`The ${pick()} of the ${pick()} depends on the ${pick()} and the ${pick()} of each ${pick()}.`);
		}
		if (p === 0) parts.unshift(`Reference ${codeWord(n)} describes the ${words[0]} procedure.`);
		sentences.push(parts.join(" "));
	}
	return {
		id: `corpus-${n}`,
		title: `${words[0]} guide ${n}`,
		text: `# ${words[0]} guide ${n}\n\n${sentences.join("\n\n")}`,
		metadata: { topic: words[0] || "misc", n },
	};
}

/** The question whose answer is document `n`. @param {number} n */
export function questionFor(n) {
	const words = TOPICS[n % TOPICS.length] || [];
	return `What does ${codeWord(n)} say about the ${words[0]} procedure?`;
}
