#!/usr/bin/env node
// Generates the labelled RAG evaluation set in test/fixtures/rag-eval/ (docs/rag.md#quality): knowledge-base
// articles of a fictional company and questions labelled with the sentence (needle) that answers them.
// Deterministic (seeded PRNG, no dependencies): `--check` regenerates in memory and exits 1 if the committed files
// differ, so CI notices a stale set.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { prng } from "../load/corpus.js";
import { parseCommandLine } from "./lib/command-line.ts";
import { REPO_ROOT } from "./lib/repository-root.ts";

const { values } = parseCommandLine("usage: npm run gen:rag-eval [-- --check]", {
	options: { check: { type: "boolean" } },
});
const dir = path.join(REPO_ROOT, "test", "fixtures", "rag-eval");

const rnd = prng(20261124);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));

const PRODUCTS = [
	"Nimbus Gateway",
	"Quartz Ledger",
	"Harbor Queue",
	"Atlas Search",
	"Beacon Alerts",
	"Cobalt Vault",
	"Delta Sync",
	"Ember Cache",
	"Falcon Deploy",
	"Garnet Billing",
	"Helix Identity",
	"Iris Metrics",
	"Jade Storage",
	"Kestrel Mail",
	"Lumen CDN",
	"Maple Forms",
	"Nova Scheduler",
	"Onyx Backup",
	"Pike Router",
	"Quill Docs",
	"Raven Audit",
	"Sable Tokens",
	"Tern Webhooks",
	"Umber Reports",
	"Vesper Chat",
	"Willow Config",
	"Xenon Tracing",
	"Yarrow Export",
	"Zephyr Uploads",
	"Aurora Payments",
	"Bramble Catalog",
	"Cinder Logs",
	"Drift Analytics",
	"Echo Notify",
	"Fjord Import",
	"Glade Secrets",
	"Heron Edge",
	"Inlet Streams",
	"Juniper Quotas",
	"Kiln Builds",
];
const TOPICS = [
	"api",
	"billing",
	"deployments",
	"incidents",
	"security",
	"networking",
	"storage",
	"observability",
	"onboarding",
	"compliance",
];
const TEAMS = [
	"Platform",
	"Payments",
	"Edge",
	"Data",
	"Identity",
	"Reliability",
	"Developer Experience",
	"Storage",
	"Messaging",
	"Search",
];
const PEOPLE = [
	"Ada Moreno",
	"Bilal Chen",
	"Chiara Rossi",
	"Dmitri Volkov",
	"Esi Mensah",
	"Farid Haddad",
	"Greta Lind",
	"Hiro Tanaka",
	"Ines Duarte",
	"Jonas Weber",
	"Kavya Iyer",
	"Liam O'Neill",
	"Mei Lin",
	"Nia Okafor",
	"Omar Saleh",
	"Priya Nair",
];
const REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast", "sa-east", "af-south"];
const FAILURES = [
	["the upstream certificate expired", "an expired certificate upstream"],
	["the request quota for the tenant was exhausted", "the tenant running out of request quota"],
	["the storage shard was read-only during maintenance", "maintenance making the shard read-only"],
	["the webhook signature did not verify", "an invalid webhook signature"],
	["the schema version of the payload was too old", "an outdated payload schema"],
	["the idempotency key was reused with a different body", "reusing an idempotency key for another body"],
	["the replica lag exceeded the configured threshold", "replicas lagging too far behind"],
	["the export job ran out of temporary disk space", "export jobs running out of scratch disk"],
	["the token was signed with a retired key", "tokens signed by a retired key"],
	["the region was draining traffic for a failover", "a region draining for failover"],
];
const FEATURES = [
	["per-tenant rate limits", "rate limiting for each tenant"],
	["streaming responses", "responses delivered as a stream"],
	["customer-managed encryption keys", "encryption keys held by customers"],
	["automatic retries with backoff", "retrying automatically after a pause"],
	["regional data residency", "keeping data inside a chosen region"],
	["audit log export", "exporting the audit trail"],
	["canary deployments", "releasing to a small share of traffic first"],
	["batch ingestion", "ingesting records in bulk"],
	["SAML single sign-on", "single sign-on through SAML"],
	["usage-based invoices", "invoices computed from usage"],
];
const DATA = [
	["access logs", "request logs"],
	["invoices", "billing statements"],
	["audit events", "audit trail entries"],
	["backups", "snapshots"],
	["session records", "login sessions"],
	["metrics samples", "metric datapoints"],
];
const UNITS = [
	["requests", "calls"],
	["uploads", "file uploads"],
	["messages", "queued messages"],
	["exports", "export jobs"],
	["webhooks", "webhook deliveries"],
];
const PERIODS = [
	["minute", "per-minute"],
	["hour", "hourly"],
	["day", "daily"],
];
const DOC_KINDS = [
	"Runbook",
	"Policy",
	"API guide",
	"Incident report",
	"FAQ",
	"Operations handbook",
	"Release notes",
	"Onboarding guide",
];
const FILLERS = [
	"Teams should review this page at the start of every quarter and raise a ticket when something is out of date.",
	"The dashboard linked from the service catalogue shows the current state, and alerts page the owning team first.",
	"Changes to this procedure go through the usual review, with at least one approver from the owning team.",
	"Customers are informed through the status page when an issue affects more than one region.",
	"Staging mirrors production closely, so rehearse every step there before touching live traffic.",
	"Questions about this document belong in the team channel rather than in direct messages.",
	"Every configuration change is recorded in the audit trail together with the person who made it.",
	"The service exposes its health on a dedicated endpoint that load balancers poll every few seconds.",
	"Capacity is reviewed monthly against the forecast, and the findings are shared with finance.",
	"Older versions remain supported for six months after a replacement ships, then they are retired.",
	"Support engineers can reproduce most reports with the sandbox tenant described in the onboarding guide.",
	"Documentation for internal tools lives next to their code, and this page only summarises it.",
];

const usedCodes = new Set<string>();
function code() {
	for (;;) {
		const c = `ERR-${int(1000, 9999)}`;
		if (!usedCodes.has(c)) {
			usedCodes.add(c);
			return c;
		}
	}
}

/** A fact: the sentence stored in a document, and the questions that ask for it. */
type Fact = { sentence: string; exact: string; paraphrase: string; product: string };
function fact(product: string): Fact {
	const kind = int(0, 5);
	if (kind === 0) {
		const c = code();
		const [failure, para] = pick(FAILURES);
		return {
			product,
			sentence: `The error ${c} in ${product} means that ${failure}.`,
			exact: `What does error ${c} mean?`,
			paraphrase: `Which error code does ${product} return for ${para}?`,
		};
	}
	if (kind === 1) {
		const n = int(2, 500) * 10;
		const [unit, unitPara] = pick(UNITS);
		const [period, periodPara] = pick(PERIODS);
		return {
			product,
			sentence: `${product} accepts at most ${n} ${unit} per ${period} for each tenant.`,
			exact: `How many ${unit} per ${period} does ${product} accept?`,
			paraphrase: `What is the ${periodPara} cap on ${unitPara} in ${product}?`,
		};
	}
	if (kind === 2) {
		const team = pick(TEAMS);
		const person = pick(PEOPLE);
		return {
			product,
			sentence: `${product} is owned by the ${team} team, and ${person} is the escalation contact this quarter.`,
			exact: `Who is the escalation contact for ${product}?`,
			paraphrase: `Which person should I escalate ${product} problems to, and which team owns it?`,
		};
	}
	if (kind === 3) {
		const version = `${int(1, 9)}.${int(0, 30)}.${int(0, 9)}`;
		const [feature, para] = pick(FEATURES);
		return {
			product,
			sentence: `Version ${version} of ${product} introduced ${feature}.`,
			exact: `Which version of ${product} introduced ${feature}?`,
			paraphrase: `Since which release does ${product} support ${para}?`,
		};
	}
	if (kind === 4) {
		const days = pick([7, 14, 30, 45, 60, 90, 180, 365, 400, 730]);
		const [data, para] = pick(DATA);
		return {
			product,
			sentence: `${product} keeps ${data} for ${days} days before deleting them permanently.`,
			exact: `How many days does ${product} keep ${data}?`,
			paraphrase: `What is the retention period of ${para} in ${product}?`,
		};
	}
	const port = int(1025, 65000);
	const region = pick(REGIONS);
	return {
		product,
		sentence: `In the ${region} region, ${product} listens on port ${port} behind the internal load balancer.`,
		exact: `Which port does ${product} listen on in ${region}?`,
		paraphrase: `On what port can the internal load balancer reach ${product} in ${region}?`,
	};
}

type Doc = { id: string; title: string; text: string; metadata: { topic: string; year: number; product: string } };
const documents: Doc[] = [];
const facts: { doc: Doc; fact: Fact }[] = [];
for (let i = 0; i < 300; i++) {
	const product = PRODUCTS[i % PRODUCTS.length] ?? "Nimbus Gateway";
	const kind = pick(DOC_KINDS);
	const topic = pick(TOPICS);
	const id = `doc-${String(i + 1).padStart(4, "0")}`;
	const title = `${product} ${kind}`;
	const markdown = rnd() < 0.6;
	const sections = int(2, 5);
	const blocks: string[] = [];
	const docFacts: Fact[] = [];
	for (let s = 0; s < sections; s++) {
		if (markdown)
			blocks.push(
				`## ${pick(["Overview", "Limits", "Ownership", "Errors", "Retention", "Networking", "Changes", "Procedure", "Background"])} ${s + 1}`,
			);
		const paragraphs = int(1, 2);
		for (let p = 0; p < paragraphs; p++) {
			const sentences = [pick(FILLERS)];
			if (rnd() < 0.75) {
				const f = fact(product);
				docFacts.push(f);
				sentences.push(f.sentence);
			}
			sentences.push(pick(FILLERS));
			if (rnd() < 0.5) sentences.push(`This applies to ${product} in ${pick(REGIONS)} as of ${2020 + int(0, 6)}.`);
			blocks.push(sentences.join(" "));
		}
	}
	const doc = { id, title, text: blocks.join("\n\n"), metadata: { topic, year: 2020 + int(0, 6), product } };
	documents.push(doc);
	for (const f of docFacts) facts.push({ doc, fact: f });
}

type Question = { id: string; question: string; relevant: { document_id: string; needle: string }[]; kind: string };
const questions: Question[] = [];
const chosen = [...facts].sort(() => rnd() - 0.5);
let qi = 0;
const qid = () => `q-${String(++qi).padStart(3, "0")}`;
for (const { doc, fact: f } of chosen.slice(0, 90)) {
	questions.push({
		id: qid(),
		question: f.exact,
		relevant: [{ document_id: doc.id, needle: f.sentence }],
		kind: "exact-term",
	});
}
for (const { doc, fact: f } of chosen.slice(90, 170)) {
	questions.push({
		id: qid(),
		question: f.paraphrase,
		relevant: [{ document_id: doc.id, needle: f.sentence }],
		kind: "paraphrase",
	});
}
for (let i = 170; i < 200; i += 2) {
	const a = chosen[i];
	const b = chosen[i + 1];
	if (!a || !b) break;
	questions.push({
		id: qid(),
		question: `${a.fact.exact.replace(/\?$/, "")}, and ${b.fact.exact.charAt(0).toLowerCase()}${b.fact.exact.slice(1)}`,
		relevant: [
			{ document_id: a.doc.id, needle: a.fact.sentence },
			{ document_id: b.doc.id, needle: b.fact.sentence },
		],
		kind: "multi-hop-lite",
	});
}
for (const name of [
	"Orchid Relay",
	"Basalt Pipeline",
	"Cypress Signals",
	"Dune Archive",
	"Elm Courier",
	"Flint Matrix",
	"Granite Proxy",
	"Hollow Index",
	"Ivy Telemetry",
	"Jasper Gateway",
]) {
	questions.push({
		id: qid(),
		question: `What is the hourly request limit of ${name}?`,
		relevant: [],
		kind: "unanswerable",
	});
}

// Every needle must occur verbatim in its document.
for (const q of questions) {
	for (const r of q.relevant) {
		const d = documents.find((x) => x.id === r.document_id);
		if (!d?.text.includes(r.needle)) throw new Error(`needle of ${q.id} not in ${r.document_id}`);
	}
}

const files = {
	"documents.jsonl": `${documents.map((d) => JSON.stringify(d)).join("\n")}\n`,
	"questions.jsonl": `${questions.map((q) => JSON.stringify(q)).join("\n")}\n`,
};
if (values.check) {
	const stale = Object.entries(files).filter(([name, content]) => {
		try {
			return readFileSync(path.join(dir, name), "utf8") !== content;
		} catch {
			return true;
		}
	});
	if (stale.length > 0) {
		console.error(
			`test/fixtures/rag-eval is stale (${stale.map(([n]) => n).join(", ")}): run npm run gen:rag-eval and commit`,
		);
		process.exit(1);
	}
	console.log("test/fixtures/rag-eval is up to date");
} else {
	for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
	const kinds = questions.reduce((m, q) => m.set(q.kind, (m.get(q.kind) ?? 0) + 1), new Map<string, number>());
	console.log(
		`wrote ${documents.length} documents (${documents.reduce((s, d) => s + d.text.length, 0)} characters) and ${questions.length} questions (${[...kinds].map(([k, n]) => `${k} ${n}`).join(", ")})`,
	);
}
