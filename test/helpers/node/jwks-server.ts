import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import type { TestProject } from "vitest/node";

/**
 * A stand-in identity provider on loopback, started once per test run (vitest globalSetup): it serves its JWKS
 * over real HTTP and signs tokens on request, so tests in workerd exercise jose's remote key set (fetching,
 * caching, refetch on an unknown `kid`) the way production talks to an IdP.
 *
 * - `GET /jwks.json`: the current key set (counted in `GET /stats`)
 * - `POST /sign` (JSON claims): an ES256 token from the current key
 * - `POST /rotate`: a new current key; the old one leaves the set
 */
type Key = { kid: string; privateKey: CryptoKey; publicJwk: Record<string, unknown> };

let counter = 0;
async function newKey(): Promise<Key> {
	const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
	const kid = `idp-key-${++counter}`;
	return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
}

declare module "vitest" {
	export interface ProvidedContext {
		jwksUrl: string;
	}
}

export const IDP_ISSUER = "https://idp.test";

let server: Server | undefined;

export default async function setup(project: TestProject) {
	let current = await newKey();
	let fetches = 0;
	server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", (c: Buffer) => chunks.push(c));
		req.on("end", async () => {
			const send = (status: number, body: unknown) => {
				res.writeHead(status, { "content-type": "application/json" });
				res.end(JSON.stringify(body));
			};
			if (req.method === "GET" && req.url === "/jwks.json") {
				fetches++;
				return send(200, { keys: [current.publicJwk] });
			}
			if (req.method === "GET" && req.url === "/stats") return send(200, { fetches, kid: current.kid });
			if (req.method === "POST" && req.url === "/rotate") {
				current = await newKey();
				return send(200, { kid: current.kid });
			}
			if (req.method === "POST" && req.url === "/sign") {
				const claims = JSON.parse(Buffer.concat(chunks).toString() || "{}") as JWTPayload;
				const now = Math.floor(Date.now() / 1000);
				const token = await new SignJWT(claims)
					.setProtectedHeader({ alg: "ES256", kid: current.kid, typ: "JWT" })
					.setIssuer(IDP_ISSUER)
					.setIssuedAt(now)
					.setExpirationTime(now + 300)
					.sign(current.privateKey);
				return send(200, { token, kid: current.kid });
			}
			send(404, { error: "not found" });
		});
	});
	await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	project.provide("jwksUrl", `http://127.0.0.1:${port}/jwks.json`);
	return async () => {
		await new Promise<void>((resolve) => server?.close(() => resolve()));
	};
}
