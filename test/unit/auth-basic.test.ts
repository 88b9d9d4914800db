import { describe, expect, it } from "vitest";
import { parseBasicCredentials } from "../../src/auth/basic";

const basic = (raw: string) => `Basic ${btoa(raw)}`;

describe("parseBasicCredentials", () => {
	it("reads client id and secret, form-decoded as RFC 6749 §2.3.1 asks", () => {
		expect(parseBasicCredentials(basic("demo:s3cret"))).toEqual({ clientId: "demo", clientSecret: "s3cret" });
		expect(parseBasicCredentials(basic("my+client:a%3Ab+c"))).toEqual({ clientId: "my client", clientSecret: "a:b c" });
		// Only the first colon separates: a secret may contain more.
		expect(parseBasicCredentials(basic("id:x:y"))).toEqual({ clientId: "id", clientSecret: "x:y" });
		expect(parseBasicCredentials(`  ${basic("id:")}  `)).toEqual({ clientId: "id", clientSecret: "" });
	});

	it("is null for anything that is not decodable Basic credentials with a client id", () => {
		for (const header of [
			"",
			"Bearer abc",
			"Basic",
			"Basic !!!",
			basic("no-colon"),
			basic(":secret-without-id"),
			basic("bad%ZZescape:x"),
			"basic ZGVtbzp4",
		]) {
			expect(parseBasicCredentials(header), header).toBeNull();
		}
	});
});
