/**
 * Server-sent events, both ways: {@link sseData} reads the `data:` payloads of an upstream's event stream (multi-line
 * data joined, comments and other fields skipped, `\n`/`\r\n` line ends, events split across chunks), and
 * {@link sseEvent} / {@link SSE_KEEPALIVE} write ours.
 *
 * @example
 * ```ts
 * for await (const data of sseData(res.body)) if (data !== "[DONE]") handle(JSON.parse(data));
 * ```
 *
 * @module
 */

/** Yields the `data:` payload of each event of an upstream's event stream. */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
	const reader = body.pipeThrough(new TextDecoderStream()).getReader();
	let buffer = "";
	let data: string[] = [];
	try {
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			buffer += value;
			let nl = buffer.indexOf("\n");
			while (nl >= 0) {
				const line = buffer.slice(0, nl).replace(/\r$/, "");
				buffer = buffer.slice(nl + 1);
				if (line === "") {
					if (data.length > 0) yield data.join("\n");
					data = [];
				} else if (line.startsWith("data:")) {
					data.push(line.slice(5).replace(/^ /, ""));
				}
				nl = buffer.indexOf("\n");
			}
		}
		if (buffer.startsWith("data:")) data.push(buffer.slice(5).replace(/^ /, ""));
		if (data.length > 0) yield data.join("\n");
	} finally {
		reader.releaseLock();
	}
}

export function sseEvent(payload: unknown): string {
	return `data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`;
}

/** A comment line: keeps proxies and clients from timing out an idle stream; ignored by SSE parsers. */
export const SSE_KEEPALIVE = ": keep-alive\n\n";
