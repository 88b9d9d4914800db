// k6 provides `console` (log, info, warn, error, debug) in every context, but @types/k6 0.48 does not declare it and
// tsconfig.load.json leaves out the DOM library on purpose (k6 has no DOM).
declare const console: {
	log(...data: unknown[]): void;
	info(...data: unknown[]): void;
	warn(...data: unknown[]): void;
	error(...data: unknown[]): void;
	debug(...data: unknown[]): void;
};
