// The OTLP/HTTP receiver of a chaos run: the service's OTLP_ENDPOINT, on loopback in the runner's process. It
// accepts every metric push (`/v1/metrics`) and span export (`/v1/traces`) and counts them, so a run can say how
// many pushes reached it while the `otlp` fault held and while it did not.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export type OtlpReceiver = {
	/** `http://127.0.0.1:<port>`: what OTLP_ENDPOINT is set to. */
	url: string;
	/** Requests received so far, per path (`/v1/metrics`, `/v1/traces`). */
	received(): Record<string, number>;
	close(): Promise<void>;
};

/** Starts the receiver on a free loopback port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
	const counts: Record<string, number> = {};
	const server = createServer((req, res) => {
		req.on("data", () => undefined);
		req.on("end", () => {
			const path = (req.url ?? "").split("?")[0] ?? "";
			if (req.method === "POST" && (path === "/v1/metrics" || path === "/v1/traces")) {
				counts[path] = (counts[path] ?? 0) + 1;
				res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
				return;
			}
			res.writeHead(404).end();
		});
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	return {
		url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
		received: () => ({ ...counts }),
		close: () =>
			new Promise<void>((r) => {
				server.closeAllConnections();
				server.close(() => r());
			}),
	};
}
