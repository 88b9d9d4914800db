/**
 * Hono's environment for the whole app: the Worker's bindings plus what the pipeline puts in the context, built
 * from the variables each middleware exports (as hono's own middleware do). Routes type themselves with it; a
 * middleware types itself with only what it sets and reads, so nothing below the routes imports this module.
 *
 * @module
 */
import type { AuthVariables } from "./middleware/auth";
import type { ConfigVariables } from "./middleware/config-gate";
import type { PortsVariables } from "./middleware/ports";
import type { RateLimitVariables } from "./middleware/rate-limit";
import type { RequestIdVariables } from "./middleware/request-id";
import type { RequestLogVariables } from "./middleware/request-log";
import type { SloRecordingVariables } from "./middleware/slo-recording";
import type { TimeoutVariables } from "./middleware/timeout";

export type AppEnv = {
	Bindings: Env;
	Variables: RequestIdVariables &
		RequestLogVariables &
		ConfigVariables &
		PortsVariables &
		TimeoutVariables &
		AuthVariables &
		RateLimitVariables &
		SloRecordingVariables;
};
