import { describe, expect, it } from "vitest";
import { Deadline } from "../../src/middleware/timeout/deadline";

function manualClock(start = 5_000) {
	let t = start;
	return {
		now: () => t,
		advance: (ms: number) => {
			t += ms;
		},
	};
}

describe("Deadline", () => {
	it("counts the remaining budget from the request's start and never goes below zero", () => {
		const clock = manualClock();
		const deadline = new Deadline(1_000, clock.now);
		expect(deadline.budgetMs).toBe(1_000);
		expect(deadline.remainingMs()).toBe(1_000);
		clock.advance(400);
		expect(deadline.remainingMs()).toBe(600);
		clock.advance(2_000);
		expect(deadline.remainingMs()).toBe(0);
	});

	it("extends to a new total budget counted from the same start, and tells its listener", () => {
		const clock = manualClock();
		const deadline = new Deadline(1_000, clock.now);
		let changes = 0;
		deadline.onChange(() => {
			changes++;
		});
		clock.advance(900);
		deadline.extend(300_000);
		expect(deadline.budgetMs).toBe(300_000);
		expect(deadline.remainingMs()).toBe(299_100);
		expect(changes).toBe(1);
	});

	it("aborts its signal once on expiry with a TimeoutError naming the budget", () => {
		const deadline = new Deadline(250);
		let aborts = 0;
		deadline.signal.addEventListener("abort", () => {
			aborts++;
		});
		expect(deadline.signal.aborted).toBe(false);
		deadline.expire();
		deadline.expire();
		expect(deadline.signal.aborted).toBe(true);
		expect(aborts).toBe(1);
		const reason = deadline.signal.reason as DOMException;
		expect(reason.name).toBe("TimeoutError");
		expect(reason.message).toBe("Deadline of 250 ms exceeded");
	});
});
