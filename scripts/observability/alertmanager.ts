// alerts/alertmanager.yml: routing by severity, grouping by route and alert, inhibition, placeholder receivers.
import { GENERATED_HEADER } from "./config.ts";
import { JOB } from "./slo-rules.ts";

/** Alerts that mean "we cannot see the service at all": they silence every other alert of the service. */
export const BLINDING_ALERTS = ["ServiceDown", "ScrapeAbsent"] as const;

/**
 * The Alertmanager configuration. Receivers are placeholders (webhooks on loopback, which `npm run observe` can
 * leave unanswered) with commented PagerDuty and Slack examples: replace them before production. Checked with
 * `amtool check-config`; routes and inhibitions are tested against a real Alertmanager (test/e2e/alerts.test.ts).
 */
export function alertmanagerConfig(): string {
	const blinding = BLINDING_ALERTS.join("|");
	return `${GENERATED_HEADER("Alertmanager configuration: routing by severity, inhibition, placeholder receivers (docs/observability.md).")}
global:
  resolve_timeout: 5m

route:
  receiver: ticket
  # One notification per alert and route: a burn on /v1/chat/completions and one on /v1/documents are two incidents.
  group_by: [alertname, service, http_route, slo_id]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
  routes:
    # Pages wake someone up: short waits, frequent reminders while unresolved.
    - matchers: ['severity="page"']
      receiver: page
      group_wait: 10s
      group_interval: 1m
      repeat_interval: 1h
    # Tickets are for working hours: one notification a day while they last.
    - matchers: ['severity="ticket"']
      receiver: ticket
      repeat_interval: 24h
    # Info alerts only inform (dashboards, a chat channel); never a page or a ticket.
    - matchers: ['severity="info"']
      receiver: info
      repeat_interval: 24h

inhibit_rules:
  # A page for an SLO silences the ticket for the same SLO on the same route (the slow burn is part of the fast one).
  # (slo=~".+": labels missing on both sides count as equal, so only SLO pages may inhibit this way.)
  - source_matchers: ['severity="page"', 'slo=~".+"']
    target_matchers: ['severity=~"ticket|info"']
    equal: [service, http_route, slo]
  # A route answering 5xx also burns its latency budgets (a failed request is never fast): one page, availability's.
  - source_matchers: ['alertname="SloAvailabilityBudgetBurnPage"']
    target_matchers: ['alertname="SloLatencyBudgetBurnPage"']
    equal: [service, http_route]
  # When the service cannot be scraped at all, every other alert of it is noise.
  - source_matchers: ['alertname=~"${blinding}"']
    target_matchers: ['alertname!~"${blinding}"']
    equal: [service]

# Placeholder receivers: webhooks on loopback. Replace each with your on-call tool, for example
#   page:   pagerduty_configs: [{ routing_key: <PagerDuty Events v2 integration key>, send_resolved: true }]
#   ticket: slack_configs: [{ api_url: https://hooks.slack.com/services/…, channel: "#${JOB}-alerts", send_resolved: true,
#            title: '{{ .CommonAnnotations.summary }}', text: '{{ .CommonAnnotations.description }} {{ .CommonAnnotations.runbook_url }}' }]
#   info:   webhook_configs: [{ url: https://chat.example/hooks/… }]
# Keep secrets out of this file: Alertmanager reads them from files (\`api_url_file\`, \`url_file\`) or your secret store.
receivers:
  - name: page
    webhook_configs:
      - url: http://127.0.0.1:9095/alerts/page
        send_resolved: true
  - name: ticket
    webhook_configs:
      - url: http://127.0.0.1:9095/alerts/ticket
        send_resolved: true
  - name: info
    webhook_configs:
      - url: http://127.0.0.1:9095/alerts/info
        send_resolved: false
`;
}
