// Package notify tells people about alerts: [Webhook] posts each alert
// group's first alert as JSON to an operator's URL, such as a Slack
// incoming webhook.
//
// # Delivery
//
// Notify never blocks the code that raised the alert: it puts the notice
// in a bounded queue, or drops it (counted in [Stats] and logged) when the
// queue is full. One worker, [Webhook.Run], posts the queue in order. A
// post that fails on the network, times out, or is answered 5xx or 429 is
// tried again after an exponential backoff with jitter (at least what a
// Retry-After header asks, up to Config.MaxBackoff), up to
// Config.MaxAttempts tries; other answers are final. A notice that cannot
// be delivered is logged and counted, and the worker moves on: the alert
// itself is already in the audit log and the alert store.
//
// # Secrets
//
// A webhook URL usually holds a credential (Slack's path is one), so it is
// never logged: log lines name the URL's host only, and errors of the
// HTTP client, which quote the URL, are unwrapped first. Redirects are not
// followed.
package notify
