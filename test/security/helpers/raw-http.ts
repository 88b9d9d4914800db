import http from "node:http";
import zlib from "node:zlib";

/**
 * One HTTP/1.1 exchange over node:http, which (unlike fetch) sends the request target byte for byte (`../`,
 * bad percent escapes, raw UTF-8), repeated headers, hop-by-hop headers and bodies on any method. The response is
 * read to its end (event streams included) within a time limit, and decoded when it is compressed.
 *
 * Every exchange has a connection of its own, so nothing one hostile request leaves behind (a body the server did
 * not read, a half-closed connection) can meet the next request.
 */
export type WireRequest = {
	method: string;
	/** Path and query, exactly as they go on the request line (latin1; non-ASCII as raw UTF-8 bytes). */
	target: string;
	headers: [string, string][];
	body?: Buffer;
};

export type WireResponse = {
	kind: "response";
	status: number;
	headers: http.IncomingHttpHeaders;
	body: Buffer;
	/** The time limit ended the body before the server did. */
	timedOut: boolean;
	ms: number;
};

export type WireFailure = { kind: "failure"; error: string; timedOut: boolean; ms: number };

const MAX_BODY = 16 * 1024 * 1024;

function decode(body: Buffer, encoding: string | undefined): Buffer {
	try {
		switch ((encoding ?? "").trim().toLowerCase()) {
			case "gzip":
				return zlib.gunzipSync(body, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
			case "br":
				return zlib.brotliDecompressSync(body);
			case "deflate":
				return zlib.inflateSync(body, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
			default:
				return body;
		}
	} catch {
		return body;
	}
}

export function send(base: URL, request: WireRequest, timeoutMs: number): Promise<WireResponse | WireFailure> {
	const started = performance.now();
	return new Promise((resolve) => {
		let settled = false;
		let response: http.IncomingMessage | undefined;
		const chunks: Buffer[] = [];
		let size = 0;
		const done = (timedOut: boolean, error?: string) => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			const ms = Math.round(performance.now() - started);
			if (!response) {
				resolve({ kind: "failure", error: error ?? "no response", timedOut, ms });
				return;
			}
			resolve({
				kind: "response",
				status: response.statusCode ?? 0,
				headers: response.headers,
				body: decode(Buffer.concat(chunks), response.headers["content-encoding"]),
				timedOut,
				ms,
			});
		};
		const req = http.request(
			{
				host: base.hostname,
				port: base.port,
				method: request.method,
				path: request.target,
				// As an array (repeated headers allowed), node:http adds no Host header of its own.
				headers: [["Host", base.host], ...request.headers].flat(),
				agent: false,
			},
			(res) => {
				response = res;
				res.on("data", (chunk: Buffer) => {
					size += chunk.length;
					if (size <= MAX_BODY) chunks.push(chunk);
				});
				res.on("end", () => {
					done(false);
					res.socket?.destroy();
				});
				res.on("error", (err) => done(false, err.message));
				res.on("aborted", () => done(false, "response aborted"));
			},
		);
		const timer = setTimeout(() => {
			done(true, `no response within ${timeoutMs} ms`);
			req.destroy();
		}, timeoutMs);
		// A server may answer (413) before it has read a large body and close the connection: the answer counts.
		req.on("error", (err) => {
			if (!response) done(false, `${(err as NodeJS.ErrnoException).code ?? ""} ${err.message}`.trim());
		});
		req.end(request.body);
	});
}
