/**
 * Faults set on a running service by the operator endpoint (`PUT /v1/admin/faults`, local and test only), so a chaos
 * run changes faults without a restart. They replace the configuration's `FAULT_*` values for the dependencies they
 * name, live in the isolate's memory (`wrangler dev` and the test runtime run one isolate) and vanish with it.
 *
 * The configuration gate hands every request {@link withRuntimeFaults}'s view of the configuration, so every fault
 * point reads `config.faults` and never this module.
 *
 * @example
 * ```ts
 * setRuntimeFaults({ chatModel: { rate: 0.3, latencyMs: 0 } });
 * withRuntimeFaults(config).faults.chatModel; // { rate: 0.3, latencyMs: 0 }
 * setRuntimeFaults(null); // back to the configuration
 * ```
 *
 * @module
 */
import type { Faults } from "../lib/fault";
import { type Config, isLocalEnvironment } from "./index";

let runtime: Partial<Faults> | null = null;
/** Bumped on every change, so a cached view of an older setting is never served. */
let generation = 0;
const views = new WeakMap<Config, { generation: number; config: Config }>();

/** The faults set at run time (`null`: none; the configuration's apply). */
export function runtimeFaults(): Partial<Faults> | null {
	return runtime;
}

/** Replaces every runtime fault (`null` clears them). */
export function setRuntimeFaults(faults: Partial<Faults> | null): void {
	runtime = faults && Object.keys(faults).length > 0 ? { ...faults } : null;
	generation++;
}

/**
 * `config` with the runtime faults over its own: the same object when none are set or outside local and test
 * environments (where runtime faults are refused anyway), else one view per configuration and setting.
 */
export function withRuntimeFaults(config: Config): Config {
	if (runtime === null || !isLocalEnvironment(config.environment)) return config;
	const cached = views.get(config);
	if (cached?.generation === generation) return cached.config;
	const view: Config = { ...config, faults: { ...config.faults, ...runtime } };
	views.set(config, { generation, config: view });
	return view;
}
