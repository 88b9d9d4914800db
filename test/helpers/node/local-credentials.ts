// The local seed's credentials, for the Node-side tests: defined once, in scripts/lib/local-credentials.ts.
export { ADMIN_CLIENT, DEMO_CLIENT, DEMO_KEY, OPS_KEY } from "../../../scripts/lib/local-credentials.ts";
