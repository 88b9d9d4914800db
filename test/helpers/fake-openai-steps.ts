/** What the fake OpenAI upstream (test/helpers/node/fake-openai.ts) answers to successive calls of a scenario. */
export type Step =
	| { kind: "json"; status: number; body: unknown; headers?: Record<string, string>; delayMs?: number }
	| { kind: "stream"; data: string[]; delayMs?: number; chunkDelayMs?: number; breakAfter?: number }
	| { kind: "hang" }
	/** Behaves like a real OpenAI model replying `text`: honours max_tokens (one token per word), stop and stream. */
	| { kind: "model"; text: string; delayMs?: number }
	| { kind: "reset" };
