/**
 * Structured JSON logs: one object per line on stdout, which Workers Logs / `wrangler tail` / `wrangler dev`
 * capture as-is. Every line carries the request id and the version id, so any problem body's `instance` finds
 * its log lines.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: "info", base: { request_id: "abc", version: "dev" } });
 * log.info("request", { status: 200, duration_ms: 3 });
 * ```
 *
 * @module
 */

/** Log levels, least severe first; a logger drops the lines below its level. */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export type Logger = {
	debug(msg: string, fields?: LogFields): void;
	info(msg: string, fields?: LogFields): void;
	warn(msg: string, fields?: LogFields): void;
	error(msg: string, fields?: LogFields): void;
	/** A logger with more base fields (e.g. the matched route). */
	child(fields: LogFields): Logger;
};

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LoggerOptions = {
	level: LogLevel;
	base?: LogFields;
	/** Where lines go; tests inject a collector. Defaults to `console.log` (one line per call). */
	sink?: (line: string) => void;
	/** Injected clock (ms since epoch). */
	now?: () => number;
};

// console.log is looked up at call time so test spies installed after logger creation still see the lines.
const consoleSink = (line: string) => console.log(line);

export function createLogger(options: LoggerOptions): Logger {
	const { level, base = {}, sink = consoleSink, now = Date.now } = options;
	const min = RANK[level];
	const write = (lvl: LogLevel, msg: string, fields?: LogFields) => {
		if (RANK[lvl] < min) return;
		sink(JSON.stringify({ time: new Date(now()).toISOString(), level: lvl, msg, ...base, ...fields }));
	};
	return {
		debug: (msg, fields) => write("debug", msg, fields),
		info: (msg, fields) => write("info", msg, fields),
		warn: (msg, fields) => write("warn", msg, fields),
		error: (msg, fields) => write("error", msg, fields),
		child: (fields) => createLogger({ level, base: { ...base, ...fields }, sink, now }),
	};
}

/** Serialises an unknown thrown value for the log (never for the wire). */
export function describeError(err: unknown): LogFields {
	if (err instanceof Error) {
		return {
			error_name: err.name,
			error_message: err.message,
			error_stack: err.stack,
			...(err.cause !== undefined ? { error_cause: String(err.cause) } : {}),
		};
	}
	return { error_message: String(err) };
}
