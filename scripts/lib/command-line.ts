// The one argument parser of the scripts: node:util's parseArgs, with the same `--help` and usage-error behaviour
// everywhere.
import { type ParseArgsConfig, parseArgs } from "node:util";

/**
 * `parseArgs(config)` over `argv` (default: this process's arguments). `--help`/`-h` prints `usage` and exits 0; an
 * unknown option, a missing value or an unexpected positional prints the error and `usage` and exits 2.
 * @example
 * const { values } = parseCommandLine("usage: npm run gen:x -- [--check]", { options: { check: { type: "boolean" } } });
 */
export function parseCommandLine<const T extends ParseArgsConfig>(
	usage: string,
	config: T,
	argv: string[] = process.argv.slice(2),
): ReturnType<typeof parseArgs<T>> {
	const withHelp = { ...config, args: argv, options: { ...config.options, help: { type: "boolean", short: "h" } } };
	let parsed: ReturnType<typeof parseArgs<T>>;
	try {
		parsed = parseArgs(withHelp as T);
	} catch (err) {
		console.error(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
		process.exit(2);
	}
	if ((parsed.values as Record<string, unknown>).help) {
		console.log(usage);
		process.exit(0);
	}
	return parsed;
}
