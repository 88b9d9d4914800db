import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type BreakerOptions, CircuitBreaker, type Permit } from "../../src/chat/breaker";

function manualClock(start = 1_000_000) {
	let t = start;
	return {
		now: () => t,
		advance: (ms: number) => {
			t += ms;
		},
	};
}

const OPTIONS = { failureRate: 0.5, minCalls: 10, windowMs: 10_000, bucketMs: 1_000, cooldownMs: 5_000, probes: 3 };

/** Settles `n` calls admitted now, `failed` of them as failures spread evenly among the successes. */
function calls(breaker: CircuitBreaker, n: number, failed: number): void {
	for (let i = 0; i < n; i++) {
		const permit = breaker.acquire();
		if (!permit) throw new Error("refused");
		if (Math.floor(((i + 1) * failed) / n) > Math.floor((i * failed) / n)) permit.failure();
		else permit.success();
	}
}

describe("CircuitBreaker (failure rate over a sliding window)", () => {
	it("stays closed under partial failure below the rate, however long the run of failures", () => {
		const clock = manualClock();
		const breaker = new CircuitBreaker({ ...OPTIONS, now: clock.now });
		// A third failing, with runs of five failures in a row in every round: a breaker of five consecutive failures
		// would open in the first round; this one never does.
		for (let round = 0; round < 50; round++) {
			calls(breaker, 10, 0);
			calls(breaker, 10, 4);
			for (let i = 0; i < 4; i++) breaker.acquire()?.failure();
			clock.advance(500);
		}
		expect(breaker.state).toBe("closed");
	});

	it("opens once the window holds minCalls calls and the failure rate reaches the threshold", () => {
		const clock = manualClock();
		const breaker = new CircuitBreaker({ ...OPTIONS, now: clock.now });
		// Nine failures alone are below minCalls: still closed.
		calls(breaker, 9, 9);
		expect(breaker.state).toBe("closed");
		expect(breaker.window()).toEqual({ calls: 9, failures: 9 });
		calls(breaker, 1, 1);
		expect(breaker.state).toBe("open");
		expect(breaker.acquire()).toBeNull();
		expect(breaker.retryAfterMs()).toBe(5_000);
	});

	it("forgets calls older than the window", () => {
		const clock = manualClock(0);
		const breaker = new CircuitBreaker({ ...OPTIONS, now: clock.now });
		calls(breaker, 9, 9);
		// 10 buckets of 1 s: at 10 s the bucket [0, 1 s) has left the window.
		clock.advance(10_000);
		expect(breaker.window()).toEqual({ calls: 0, failures: 0 });
		calls(breaker, 1, 1);
		expect(breaker.state).toBe("closed");
	});

	it("half-opens after the cooldown, lets `probes` calls through, and closes on their success", () => {
		const clock = manualClock();
		const breaker = new CircuitBreaker({ ...OPTIONS, now: clock.now });
		calls(breaker, 10, 10);
		clock.advance(4_999);
		expect(breaker.state).toBe("open");
		clock.advance(1);
		expect(breaker.state).toBe("half-open");
		const probes = [breaker.acquire(), breaker.acquire(), breaker.acquire()];
		expect(probes.every((p) => p !== null)).toBe(true);
		expect(breaker.acquire()).toBeNull();
		for (const p of probes) p?.success();
		expect(breaker.state).toBe("closed");
		expect(breaker.window()).toEqual({ calls: 0, failures: 0 });
	});

	it("reopens for a full cooldown on a failed probe", () => {
		const clock = manualClock();
		const breaker = new CircuitBreaker({ ...OPTIONS, now: clock.now });
		calls(breaker, 10, 10);
		clock.advance(5_000);
		breaker.acquire()?.success();
		breaker.acquire()?.failure();
		expect(breaker.state).toBe("open");
		expect(breaker.retryAfterMs()).toBe(5_000);
	});

	it("gives a released probe's slot back, and ignores outcomes of calls admitted before a transition", () => {
		const clock = manualClock();
		const breaker = new CircuitBreaker({ ...OPTIONS, probes: 1, now: clock.now });
		const early = breaker.acquire();
		calls(breaker, 10, 10);
		expect(breaker.state).toBe("open");
		// A call admitted while closed ends now: it neither closes nor reopens the breaker.
		early?.success();
		expect(breaker.state).toBe("open");
		clock.advance(5_000);
		const probe = breaker.acquire();
		expect(breaker.acquire()).toBeNull();
		probe?.release();
		const again = breaker.acquire();
		expect(again).not.toBeNull();
		// Settling twice counts once.
		again?.success();
		again?.failure();
		expect(breaker.state).toBe("closed");
	});
});

/**
 * A reference breaker written from the definition, not from the implementation: it keeps every closed-state
 * outcome with its time and recounts the window from that list on every question.
 */
class ReferenceBreaker {
	outcomes: { at: number; failed: boolean }[] = [];
	openedAt: number | null = null;
	generation = 0;
	probesInFlight = 0;
	probeSuccesses = 0;
	constructor(
		private readonly o: typeof OPTIONS,
		private readonly now: () => number,
	) {}
	inWindow(at: number): boolean {
		const buckets = Math.ceil(this.o.windowMs / this.o.bucketMs);
		return Math.floor(at / this.o.bucketMs) > Math.floor(this.now() / this.o.bucketMs) - buckets;
	}
	window() {
		const live = this.outcomes.filter((x) => this.inWindow(x.at));
		return { calls: live.length, failures: live.filter((x) => x.failed).length };
	}
	state(): string {
		if (this.openedAt === null) return "closed";
		return this.now() - this.openedAt < this.o.cooldownMs ? "open" : "half-open";
	}
	reset(openedAt: number | null) {
		this.openedAt = openedAt;
		this.generation++;
		this.outcomes = [];
		this.probesInFlight = 0;
		this.probeSuccesses = 0;
	}
	acquire(): { generation: number; probe: boolean; settled: boolean } | null {
		const state = this.state();
		if (state === "open") return null;
		if (state === "closed") return { generation: this.generation, probe: false, settled: false };
		if (this.probesInFlight + this.probeSuccesses >= this.o.probes) return null;
		this.probesInFlight++;
		return { generation: this.generation, probe: true, settled: false };
	}
	settle(p: { generation: number; probe: boolean; settled: boolean }, outcome: "success" | "failure" | "release") {
		if (p.settled) return;
		p.settled = true;
		if (p.generation !== this.generation) return;
		if (p.probe) {
			this.probesInFlight--;
			if (outcome === "failure") this.reset(this.now());
			else if (outcome === "success" && ++this.probeSuccesses >= this.o.probes) this.reset(null);
			return;
		}
		if (outcome === "release") return;
		this.outcomes.push({ at: this.now(), failed: outcome === "failure" });
		const w = this.window();
		if (outcome === "failure" && w.calls >= this.o.minCalls && w.failures >= this.o.failureRate * w.calls) {
			this.reset(this.now());
		}
	}
}

type Op =
	| { kind: "advance"; ms: number }
	| { kind: "acquire" }
	| { kind: "settle"; pick: number; outcome: "success" | "failure" | "release" };

const op: fc.Arbitrary<Op> = fc.oneof(
	// Steps around the bucket width, cooldown and window edges.
	{
		arbitrary: fc.record({
			kind: fc.constant("advance" as const),
			ms: fc.constantFrom(0, 1, 499, 999, 1_000, 4_999, 5_000, 10_000),
		}),
		weight: 2,
	},
	{ arbitrary: fc.constant({ kind: "acquire" as const }), weight: 3 },
	{
		arbitrary: fc.record({
			kind: fc.constant("settle" as const),
			pick: fc.nat(),
			outcome: fc.constantFrom("success" as const, "failure" as const, "failure" as const, "release" as const),
		}),
		weight: 4,
	},
);

describe("CircuitBreaker agrees with a reference model on random call sequences", () => {
	it("same admissions, states, windows and waits after every step", () => {
		// Not vacuous: many runs must open the breaker and many must see it close again after probes.
		let runsThatOpened = 0;
		let runsThatReclosed = 0;
		fc.assert(
			fc.property(
				fc.array(op, { minLength: 50, maxLength: 400, size: "max" }),
				fc.record({
					failureRate: fc.constantFrom(0.3, 0.5, 1),
					minCalls: fc.integer({ min: 1, max: 12 }),
					windowMs: fc.constantFrom(3_000, 10_000, 10_500),
					bucketMs: fc.constantFrom(500, 1_000),
					cooldownMs: fc.constantFrom(1_000, 5_000),
					probes: fc.integer({ min: 1, max: 3 }),
				}),
				fc.integer({ min: 0, max: 999 }),
				(ops, options: Omit<BreakerOptions, "now" | "name"> & typeof OPTIONS, start) => {
					const clock = manualClock(1_000_000 + start);
					const real = new CircuitBreaker({ ...options, now: clock.now });
					const model = new ReferenceBreaker(options, clock.now);
					const open: { real: Permit; model: NonNullable<ReturnType<ReferenceBreaker["acquire"]>> }[] = [];
					let opened = false;
					let reclosed = false;
					for (const step of ops) {
						if (step.kind === "advance") clock.advance(step.ms);
						else if (step.kind === "acquire") {
							const r = real.acquire();
							const m = model.acquire();
							expect(r === null).toBe(m === null);
							if (r && m) open.push({ real: r, model: m });
						} else if (open.length > 0) {
							const [p] = open.splice(step.pick % open.length, 1);
							if (p) {
								p.real[step.outcome]();
								model.settle(p.model, step.outcome);
							}
						}
						const before = opened;
						expect(real.state).toBe(model.state());
						if (real.state === "open") opened = true;
						if (before && real.state === "closed") reclosed = true;
						if (real.state === "closed") expect(real.window()).toEqual(model.window());
						expect(real.retryAfterMs()).toBe(
							model.openedAt === null ? 0 : Math.max(0, model.openedAt + options.cooldownMs - clock.now()),
						);
					}
					if (opened) runsThatOpened++;
					if (reclosed) runsThatReclosed++;
				},
			),
			{ numRuns: 300 },
		);
		expect(runsThatOpened).toBeGreaterThan(100);
		expect(runsThatReclosed).toBeGreaterThan(30);
	});
});
